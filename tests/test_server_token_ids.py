"""vLLM's `return_token_ids` (what agent RL frameworks read to train on exactly the tokens the
model saw and wrote): the prompt's token ids and each choice's output token ids, whole and
streamed, on Chat Completions and Completions, equal to the engine's own."""

from __future__ import annotations

import json

import httpx
import pytest

from paste.engine.request import GenerationParams

MESSAGES = [{"role": "user", "content": "Name a city."}]
PROMPT = "The capital of France is"


def post(server, path, body):
    reply = httpx.post(f"{server.url}{path}", json={"model": "tiny", **body}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def stream(server, path, body):
    chunks = []
    with httpx.stream("POST", f"{server.url}{path}", json={"model": "tiny", "stream": True,
                                                          **body}, timeout=60) as reply:
        for line in reply.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line[len("data: "):]))
    return chunks


def test_chat_answer_carries_the_prompt_and_output_ids(engine, server):
    body = {"messages": MESSAGES, "max_tokens": 8, "temperature": 0, "return_token_ids": True}
    answer = post(server, "/v1/chat/completions", body)
    prompt = post(server, "/tokenize", {"messages": MESSAGES})["tokens"]
    assert answer["prompt_token_ids"] == prompt
    own = engine.generate([prompt], GenerationParams(max_tokens=8, temperature=0.0))[0]
    assert answer["choices"][0]["token_ids"] == own.token_ids
    assert answer["usage"]["completion_tokens"] == len(own.token_ids)
    plain = post(server, "/v1/chat/completions", dict(body, return_token_ids=False))
    assert "prompt_token_ids" not in plain and "token_ids" not in plain["choices"][0]


def test_chat_stream_gives_the_prompt_once_and_the_output_in_order(server):
    body = {"messages": MESSAGES, "max_tokens": 8, "temperature": 1.0, "seed": 5, "n": 2,
            "return_token_ids": True}
    whole = post(server, "/v1/chat/completions", body)
    chunks = stream(server, "/v1/chat/completions", body)
    prompts = [c["prompt_token_ids"] for c in chunks if "prompt_token_ids" in c]
    assert prompts == [whole["prompt_token_ids"]]
    for index in (0, 1):
        ids = [t for c in chunks for ch in c["choices"] if ch["index"] == index
               for t in ch.get("token_ids", [])]
        assert ids == whole["choices"][index]["token_ids"]


def test_completions_carry_ids_per_choice_whole_and_streamed(engine, server):
    ids = list(engine.tokenizer.encode(PROMPT, add_special_tokens=True))
    body = {"prompt": [ids, [5, 6, 7]], "max_tokens": 5, "temperature": 0,
            "return_token_ids": True}
    whole = post(server, "/v1/completions", body)
    assert [c["prompt_token_ids"] for c in whole["choices"]] == [ids, [5, 6, 7]]
    for choice, prompt in zip(whole["choices"], [ids, [5, 6, 7]], strict=True):
        own = engine.generate([prompt], GenerationParams(max_tokens=5, temperature=0.0))[0]
        assert choice["token_ids"] == own.token_ids
    chunks = stream(server, "/v1/completions", body)
    for index in (0, 1):
        mine = [ch for c in chunks for ch in c["choices"] if ch["index"] == index]
        assert [ch["prompt_token_ids"] for ch in mine if "prompt_token_ids" in ch] == [
            whole["choices"][index]["prompt_token_ids"]]
        assert [t for ch in mine for t in ch.get("token_ids", [])] == \
            whole["choices"][index]["token_ids"]


def test_echo_only_has_prompt_ids_and_no_output_ids(engine, server):
    answer = post(server, "/v1/completions", {"prompt": PROMPT, "max_tokens": 0, "echo": True,
                                              "return_token_ids": True})
    choice = answer["choices"][0]
    assert choice["prompt_token_ids"] == list(engine.tokenizer.encode(
        PROMPT, add_special_tokens=True))
    assert choice["token_ids"] == [] and choice["text"] == PROMPT


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_a_non_boolean_return_token_ids_is_a_400(server, path):
    base = {"messages": MESSAGES} if "chat" in path else {"prompt": PROMPT}
    reply = httpx.post(f"{server.url}{path}", json={"model": "tiny", "return_token_ids": "yes",
                                                    **base}, timeout=60)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "return_token_ids"
