"""Responses' `truncation` (server/truncation.py) and `metadata`: "auto" drops the oldest
messages (a call with its answers) until the prompt fits the context, keeping the
instructions and the last message, and leaves the stored history whole; "disabled" refuses
a conversation too long; bad values are 400s naming the field."""

from __future__ import annotations

import httpx
import pytest

from paste.server.truncation import fit_to_context
from paste.server.turn import TurnRequest
from test_server_support import always

CALL_TEXT = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
WEATHER = {"type": "function", "name": "get_weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def long_text(engine, tag: str, share: float = 0.4) -> str:
    """A text of about `share` of the engine's context (in tokens), starting with `tag`."""
    per_word = len(engine.encode("word " * 100)) / 100
    return tag + " " + "word " * int(engine.max_model_len * share / per_word)


def post(server, body):
    return httpx.post(f"{server.url}/v1/responses", json=body, timeout=60)


def conversation(engine):
    return [
        {"role": "user", "content": long_text(engine, "FIRST", 0.2)},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1",
         "output": long_text(engine, "ANSWERED", 0.6)},
        {"role": "assistant", "content": long_text(engine, "SECOND", 0.5)},
        {"role": "user", "content": "LAST question?"},
    ]


def test_auto_drops_the_oldest_messages_until_the_prompt_fits(engine, server):
    body = {"model": "tiny", "instructions": "Be brief.", "input": conversation(engine),
            "tools": [WEATHER], "max_output_tokens": 3, "truncation": "auto",
            "metadata": {"run": "7"}}
    refused = post(server, dict(body, truncation="disabled"))
    assert refused.status_code == 400
    assert "leaves no room below max_model_len" in refused.json()["error"]["message"]
    with engine.scripted(always("Fine.")):
        reply = post(server, body)
    assert reply.status_code == 200
    answer = reply.json()
    assert (answer["truncation"], answer["metadata"]) == ("auto", {"run": "7"})
    prompt = engine.prompts[-1]
    # the first message went (1.1 contexts were left), then the call with its answer
    assert "FIRST" not in prompt and CALL_TEXT not in prompt and "ANSWERED" not in prompt
    assert prompt.startswith("<|im_start|>system\nBe brief.")
    assert prompt.index("SECOND") < prompt.index("LAST question?")
    assert answer["usage"]["input_tokens"] < engine.max_model_len
    # the stored history is whole: listing the input shows every item
    items = httpx.get(f"{server.url}/v1/responses/{answer['id']}/input_items",
                      params={"order": "asc"}, timeout=60).json()["data"]
    assert [i["type"] for i in items] == ["message", "function_call", "function_call_output",
                                          "message", "message"]


def test_auto_refuses_when_the_last_message_alone_does_not_fit(engine, server):
    body = {"model": "tiny", "truncation": "auto", "max_output_tokens": 3,
            "input": [{"role": "user", "content": "short"},
                      {"role": "user", "content": long_text(engine, "HUGE", 1.2)}]}
    reply = post(server, body)
    assert reply.status_code == 400


def test_fit_to_context_replaces_the_message_list(engine):
    original = [{"role": "user", "content": long_text(engine, "A", 1.1)},
                {"role": "user", "content": "B"}]
    turn = TurnRequest(messages=original)
    assert fit_to_context(engine, turn, "json") == 1
    assert turn.messages == [{"role": "user", "content": "B"}]
    assert len(original) == 2  # the caller's list (a stored conversation) is untouched
    short = TurnRequest(messages=[{"role": "user", "content": "B"}])
    assert fit_to_context(engine, short, "json") == 0


@pytest.mark.parametrize(("field", "value"), [
    ("truncation", "sometimes"), ("truncation", 3),
    ("metadata", {"k": 1}), ("metadata", {f"k{i}": "v" for i in range(17)}),
    ("metadata", "x"),
])
def test_bad_values_are_a_400_naming_the_field(server, field, value):
    reply = post(server, {"model": "tiny", "input": "Hi", field: value})
    assert (reply.status_code, reply.json()["error"]["param"]) == (400, field)


def test_bisection_drops_the_fewest_messages_in_few_renders(engine, monkeypatch):
    from paste.server import truncation
    from paste.server.prompt import render_prompt

    messages = [{"role": "system", "content": "Be brief."}]
    for i in range(40):  # 40 messages of 1/12 context each: about 3.3 contexts
        messages.append({"role": "user" if i % 2 == 0 else "assistant",
                         "content": long_text(engine, f"M{i}", 1 / 12)})
    # the reference: drop the oldest message one at a time until the prompt fits
    kept = list(messages)
    while len(render_prompt(engine, TurnRequest(messages=kept), "json")) >= engine.max_model_len:
        kept = kept[:1] + kept[2:]
    renders = []

    def counted(*args):
        renders.append(1)
        return render_prompt(*args)

    monkeypatch.setattr(truncation, "render_prompt", counted)
    turn = TurnRequest(messages=messages)
    assert fit_to_context(engine, turn, "json") == len(messages) - len(kept)
    assert turn.messages == kept and 20 < len(messages) - len(kept) < 40
    assert len(renders) <= 7  # 1 + ceil(log2(40))
