"""--max-logprobs over HTTP: a server whose engine allows 30 alternatives per token serves up
to 30 on every route that takes logprobs, and refuses 31 with a 400 naming the field."""

from __future__ import annotations

import httpx
import pytest

from paste.engine.request import GenerationParams
from test_server_support import live_server
from test_session_support import shared_tiny_folder, tiny_engine

LIMIT = 30
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory), max_logprobs=LIMIT)
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def server(engine):
    with live_server(engine) as srv:
        yield srv


def post(server, path, body):
    return httpx.post(f"{server.url}{path}", json={"model": "tiny", "max_tokens": 2,
                                                   "temperature": 0, **body}, timeout=60)


def test_every_route_serves_up_to_the_engines_limit(server, engine):
    chat = post(server, "/v1/chat/completions", {"messages": USER, "logprobs": True,
                                                 "top_logprobs": LIMIT}).json()
    assert [len(t["top_logprobs"]) for t in chat["choices"][0]["logprobs"]["content"]] == [
        LIMIT, LIMIT]
    response = post(server, "/v1/responses", {"input": "hi", "max_output_tokens": 2,
                                              "top_logprobs": LIMIT,
                                              "include": ["message.output_text.logprobs"]})
    tokens = response.json()["output"][0]["content"][0]["logprobs"]
    assert [len(t["top_logprobs"]) for t in tokens] == [LIMIT, LIMIT]
    completion = post(server, "/v1/completions", {"prompt": "hi there", "logprobs": LIMIT,
                                                  "prompt_logprobs": LIMIT}).json()
    choice = completion["choices"][0]
    # the legacy format keys alternatives by text: the engine's 30 as distinct texts
    ids = list(engine.tokenizer.encode("hi there", add_special_tokens=True))
    own = engine.generate([ids], GenerationParams(max_tokens=2, temperature=0,
                                                  logprobs=LIMIT))[0]
    texts = [{engine.tokenizer.decode([t], skip_special_tokens=False) for t, _v in e.top}
             for e in own.logprobs]
    assert [set(top) for top in choice["logprobs"]["top_logprobs"]] == texts
    for scores in choice["prompt_logprobs"][1:]:  # by token id: ranks 1..30 (+ the token's)
        ranks = sorted(v["rank"] for v in scores.values())
        assert [r for r in ranks if r <= LIMIT] == list(range(1, LIMIT + 1))


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/chat/completions", {"messages": USER, "logprobs": True, "top_logprobs": LIMIT + 1},
     "top_logprobs"),
    ("/v1/chat/completions", {"messages": USER, "prompt_logprobs": LIMIT + 1},
     "prompt_logprobs"),
    ("/v1/completions", {"prompt": "hi", "logprobs": LIMIT + 1}, "logprobs"),
    ("/v1/completions", {"prompt": "hi", "prompt_logprobs": LIMIT + 1}, "prompt_logprobs"),
    ("/v1/responses", {"input": "hi", "top_logprobs": LIMIT + 1}, "top_logprobs"),
])
def test_one_more_than_the_limit_is_a_400_naming_the_field(server, path, body, param):
    reply = post(server, path, body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == param
    assert error["message"].endswith(f"must be between 0 and {LIMIT}, got {LIMIT + 1}")
