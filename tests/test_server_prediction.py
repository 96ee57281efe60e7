"""OpenAI's Predicted Outputs on /v1/chat/completions: the `prediction` reaches the engine as
the text's token ids, the answer is the one without it, and usage counts the accepted and
rejected prediction tokens exactly as the engine reported them."""

from __future__ import annotations

import json

import httpx
import pytest

USER = [{"role": "user", "content": "Say something."}]


def chat(server, **body):
    reply = httpx.post(f"{server.url}/v1/chat/completions", timeout=60, json={
        "model": "tiny", "messages": USER, "max_tokens": 24, "temperature": 0,
        "ignore_eos": True, **body})
    assert reply.status_code == 200, reply.text
    return reply.json()


def engine_counts(engine, last: int) -> list[tuple[int, int]]:
    """The prediction counts of the engine's last `last` requests, from their outputs."""
    outs = [h.result() for h in engine.handles[-last:]]
    return [(int(o.metrics["accepted_prediction_tokens"]),
             int(o.metrics["rejected_prediction_tokens"])) for o in outs]


def test_a_prediction_changes_nothing_but_the_usage_counts(server, engine):
    base = chat(server)
    text = base["choices"][0]["message"]["content"]
    assert "completion_tokens_details" not in base["usage"]
    for prediction in (text, [{"type": "text", "text": text[:7]}, {"type": "text",
                                                                   "text": text[7:]}]):
        out = chat(server, prediction={"type": "content", "content": prediction})
        assert out["choices"][0]["message"]["content"] == text
        assert engine.params[-1].prediction == tuple(
            engine.tokenizer.encode(text, add_special_tokens=False))
        [(accepted, rejected)] = engine_counts(engine, 1)
        assert out["usage"]["completion_tokens_details"] == {
            "accepted_prediction_tokens": accepted, "rejected_prediction_tokens": rejected}
        assert accepted > 0
        assert out["usage"]["completion_tokens"] == base["usage"]["completion_tokens"]


def test_choices_sum_and_a_stream_carries_the_counts_in_its_usage(server, engine):
    text = chat(server)["choices"][0]["message"]["content"]
    prediction = {"type": "content", "content": text}
    both = chat(server, n=2, prediction=prediction)
    counts = engine_counts(engine, 2)
    assert both["usage"]["completion_tokens_details"] == {
        "accepted_prediction_tokens": sum(a for a, _ in counts),
        "rejected_prediction_tokens": sum(r for _, r in counts)}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", timeout=60, json={
            "model": "tiny", "messages": USER, "max_tokens": 24, "temperature": 0,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True},
            "prediction": prediction}) as reply:
        chunks = [json.loads(line[6:]) for line in reply.iter_lines()
                  if line.startswith("data: {")]
    [(accepted, rejected)] = engine_counts(engine, 1)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c["choices"]) == text
    assert chunks[-1]["usage"]["completion_tokens_details"] == {
        "accepted_prediction_tokens": accepted, "rejected_prediction_tokens": rejected}


@pytest.mark.parametrize(("prediction", "param"), [
    ("just text", "prediction"),
    ({"type": "text", "content": "x"}, "prediction"),
    ({"type": "content", "content": "x", "extra": 1}, "prediction"),
    ({"type": "content"}, "prediction.content"),
    ({"type": "content", "content": 5}, "prediction.content"),
    ({"type": "content", "content": [{"type": "image_url"}]}, "prediction.content[0]"),
])
def test_a_bad_prediction_is_a_400_naming_the_field(server, prediction, param):
    reply = httpx.post(f"{server.url}/v1/chat/completions", timeout=60, json={
        "model": "tiny", "messages": USER, "prediction": prediction})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param
