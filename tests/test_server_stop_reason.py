"""vLLM's `stop_reason`: the stop string or stop token id that finished a choice (None for
the model's own end-of-turn token, a length limit or anything else), in the engine's
RequestOutput and on Chat Completions and Completions, whole and streamed."""

from __future__ import annotations

import json

import httpx

from paste.engine.request import GenerationParams

REACT = "Thought: look it up\nAction: search[Paris]\nObservation: a city"


def fresh(ids):
    """An index >= 2 whose token does not occur before it (a stop token id to end there)."""
    return next(k for k in range(2, len(ids)) if ids[k] not in ids[:k])


def post(server, path, body):
    reply = httpx.post(f"{server.url}{path}", json={"model": "tiny", **body}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_the_engine_names_the_stop_string_or_token_that_hit(engine):
    ids = engine.encode(REACT)
    by_string = engine.generate([[5, 6]], GenerationParams(
        forced_tokens=tuple(ids), stop=("Observation:", "Never")))[0]
    assert by_string.finish_reason == "stop" and by_string.stop_reason == "Observation:"
    k = fresh(ids)
    by_token = engine.generate([[5, 6]], GenerationParams(
        forced_tokens=tuple(ids), stop_token_ids=(ids[k],)))[0]
    assert by_token.stop_reason == ids[k] and by_token.token_ids == ids[:k + 1]
    plain = engine.generate([[5, 6]], GenerationParams(forced_tokens=tuple(ids)))[0]
    assert plain.stop_reason is None and plain.finish_reason == "length"
    eos = engine.tokenizer.eos_token_id
    by_eos = engine.generate([[5, 6]], GenerationParams(forced_tokens=(ids[0], eos)))[0]
    assert by_eos.finish_reason == "stop" and by_eos.stop_reason is None


def test_chat_choices_carry_the_stop_reason_whole_and_streamed(engine, server):
    body = {"messages": [{"role": "user", "content": "Where is Paris?"}],
            "stop": ["Observation:"], "max_tokens": 64}
    with engine.scripted(lambda _prompt: REACT):
        whole = post(server, "/v1/chat/completions", body)["choices"][0]
        with httpx.stream("POST", f"{server.url}/v1/chat/completions",
                          json={"model": "tiny", "stream": True, **body}, timeout=60) as reply:
            lines = [line for line in reply.iter_lines() if line.startswith("data: {")]
        plain = post(server, "/v1/chat/completions", dict(body, stop=None))["choices"][0]
    assert whole["finish_reason"] == "stop" and whole["stop_reason"] == "Observation:"
    assert whole["message"]["content"] == REACT.split("Observation:")[0]
    final = [c for c in (json.loads(line[6:]) for line in lines)
             if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["stop_reason"] for c in final] == ["Observation:"]
    assert plain["finish_reason"] == "stop" and plain["stop_reason"] is None  # its own EOS


def test_completions_name_a_stop_token_id(engine, server):
    ids = engine.encode(REACT)
    k = fresh(ids)
    with engine.scripted(lambda _prompt: REACT):
        choice = post(server, "/v1/completions", {"prompt": "Q:", "max_tokens": 64,
                                                  "stop_token_ids": [ids[k]]})["choices"][0]
        longer = post(server, "/v1/completions", {"prompt": "Q:", "max_tokens": 2})["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["stop_reason"] == ids[k]
    assert longer["finish_reason"] == "length" and longer["stop_reason"] is None
