"""Bad input is a typed 4xx, never a 500: generated request bodies against a live server on the
tiny model, for every generating route and native sessions. Each field of each route alone on
an otherwise valid body (values shaped like what the field takes, and JSON of every other
shape), then several fields at once. A scratch fuzzer of the same kind found a 500: a
completions prompt of negative token ids, which the per-field test finds again without the
fix."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_server_support import live_server

SAMPLING = [
    "temperature", "top_p", "top_k", "min_p", "max_tokens", "n", "stop", "stream",
    "stream_options", "presence_penalty", "frequency_penalty", "repetition_penalty",
    "logit_bias", "seed", "guided_json", "guided_regex", "guided_choice", "structured_outputs",
    "priority", "truncate_prompt_tokens", "prompt_logprobs", "stop_token_ids", "min_tokens",
    "ignore_eos", "include_stop_str_in_output", "allowed_token_ids", "bad_words",
    "return_token_ids", "model",
]
FIELDS = {  # each route's fields, so a generated body mostly exercises what the route reads
    "/v1/chat/completions": SAMPLING + [
        "messages", "tools", "tool_choice", "max_completion_tokens", "logprobs",
        "top_logprobs", "response_format", "parallel_tool_calls", "prompt_cache_key",
        "chat_template_kwargs", "add_generation_prompt", "continue_final_message",
        "include_reasoning"],
    "/v1/completions": SAMPLING + ["prompt", "prompt", "prompt", "echo", "suffix", "best_of",
                                   "logprobs", "response_format"],
    "/v1/responses": ["input", "input", "instructions", "text", "previous_response_id",
                      "include", "store", "max_output_tokens", "tools", "tool_choice",
                      "temperature", "top_p", "stream", "model", "top_logprobs"],
    "/tokenize": ["messages", "prompt", "add_special_tokens", "tools",
                  "chat_template_kwargs", "add_generation_prompt", "model"],
}
ATOMS = st.sampled_from([
    None, True, False, 0, -1, 1, 3, 2**40, 1.5, -0.5, "", "x", "auto", "none", "required",
    "user", "function", "json_schema", "json_object", "text", "object",
])
SHAPES = st.sampled_from([
    [{"role": "user", "content": "hi"}], [{"role": "user"}], [{"role": "tool", "content": "x"}],
    [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{"}}]}],
    [{"role": "user", "content": [{"type": "text"}]}], [{"role": 5, "content": "x"}],
    [{"type": "function", "function": {"name": "f"}}],
    [{"type": "function", "function": {"name": "f", "parameters": []}}],
    {"type": "function", "function": {"name": "f"}}, {"include_usage": "yes"},
    {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}},
    {"json_schema": {"schema": []}}, {"99999999999": 5}, {"1": "x"}, [[1, 2], [3]], [-5],
    [1, 99999999], ["", ""], [None], {"type": "object", "properties": {"a": 5}},
])
NUMBERS = st.one_of(st.integers(-3, 2**33), st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.recursive(
    st.one_of(ATOMS, SHAPES, NUMBERS, st.lists(st.integers(-3, 2**33), min_size=1,
                                               max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["type", "name", "function", "schema", "json_schema",
                                         "content", "role", "arguments", "parameters",
                                         "strict", "include_usage"]), inner, max_size=3)),
    max_leaves=6,
)
TOKEN_IDS = st.one_of(st.integers(-3, -1), st.integers(0, 600), st.integers(2**31, 2**33))
IDS = st.lists(TOKEN_IDS, min_size=1, max_size=4)
TEXT = st.text(max_size=8)
MESSAGES = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "developer", "tool", "bogus"])},
    optional={"content": st.one_of(TEXT, VALUES), "tool_calls": VALUES, "name": VALUES,
              "tool_call_id": VALUES, "reasoning_content": VALUES}), max_size=3)
FIELD_VALUES = {  # shapes near what each field takes, so the route goes past its first check
    "prompt": st.one_of(TEXT, IDS, st.lists(IDS, min_size=1, max_size=2),
                        st.lists(TEXT, min_size=1, max_size=3)),
    "messages": MESSAGES,
    "input": st.one_of(TEXT, MESSAGES),
    "stop": st.one_of(TEXT, st.lists(TEXT, max_size=3)),
    "logit_bias": st.dictionaries(st.one_of(TEXT, TOKEN_IDS.map(str)),
                                  NUMBERS, max_size=3),
    "stop_token_ids": IDS, "allowed_token_ids": IDS,
    "bad_words": st.lists(TEXT, max_size=3),
    "n": st.integers(-1, 200), "max_tokens": st.integers(-1, 10**7),
    "logprobs": st.one_of(st.booleans(), st.integers(-1, 30)),
    "top_logprobs": st.integers(-1, 30), "truncate_prompt_tokens": st.integers(-2, 10**6),
}


def _field(name: str) -> st.SearchStrategy[tuple[str, Any]]:
    value = st.one_of(FIELD_VALUES[name], VALUES) if name in FIELD_VALUES else VALUES
    return st.tuples(st.just(name), value)


ROUTED_BODIES = st.sampled_from(sorted(FIELDS)).flatmap(lambda route: st.tuples(
    st.just(route), st.lists(st.sampled_from(FIELDS[route]).flatmap(_field), min_size=1,
                             max_size=4).map(dict)))


@pytest.fixture(scope="module")
def url(engine):
    with live_server(engine) as server:
        yield server.url


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[int, str]:
    content = json.dumps(body)
    if body.get("stream") is True:
        with client.stream("POST", url, content=content) as response:
            return response.status_code, "".join(response.iter_text())
    response = client.post(url, content=content)
    return response.status_code, response.text


def _check(status: int, text: str, body: dict[str, Any]) -> None:
    assert status < 500, (status, text, body)
    if status >= 400:
        error = json.loads(text)["error"]
        assert error["type"] == "invalid_request_error" or status in (401, 404, 413), error
        assert error["message"], error
    else:
        assert "server_error" not in text, (text, body)  # an error event inside a stream


BASE = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "prompt": "hi",
        "input": "hi", "max_tokens": 3, "max_output_tokens": 16}
SETTINGS = {"deadline": None, "derandomize": True,
            "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}


@pytest.mark.parametrize(("route", "field"), sorted(
    {(route, field) for route, fields in FIELDS.items() for field in fields}))
@settings(max_examples=8, **SETTINGS)
@given(data=st.data())
def test_each_field_of_each_route(url, route, field, data):
    """One field at a time on an otherwise valid body: the route's check of that field."""
    value = data.draw(_field(field))[1]
    body = {**BASE, field: value}
    with httpx.Client(timeout=60) as client:
        _check(*_post(client, url + route, body), body)


@settings(max_examples=150, **SETTINGS)
@given(routed=ROUTED_BODIES)
def test_generated_bodies_are_answered_or_refused_with_a_typed_error(url, routed):
    """Several fields at once."""
    route, extra = routed
    body = {**BASE, **extra}
    with httpx.Client(timeout=60) as client:
        _check(*_post(client, url + route, body), body)


@settings(max_examples=60, **SETTINGS)
@given(create=st.dictionaries(st.sampled_from(["tools", "tenant", "system", "max_turns",
                                                "max_tokens", "environment", "priority"]),
                              VALUES, max_size=4),
       message=st.dictionaries(st.sampled_from(["content", "stream", "max_tokens"]), VALUES,
                               max_size=2))
def test_generated_session_bodies_are_answered_or_refused(url, create, message):
    with httpx.Client(timeout=60) as client:
        made = client.post(url + "/v1/sessions", content=json.dumps(create))
        _check(made.status_code, made.text, create)
        if made.status_code != 200:
            return
        path = f"{url}/v1/sessions/{made.json()['id']}"
        body = {"content": "hi", "max_tokens": 4, **message}
        _check(*_post(client, path + "/messages", body), body)
        assert client.get(path).status_code == 200
        assert client.delete(path).status_code == 200
