"""vLLM's `truncate_prompt_tokens` on Completions and Chat Completions: the prompt's last k
tokens only (-1: what the context holds with a token to write), the rest of the request as
it was; 0 or a non-integer is a 400."""

from __future__ import annotations

import httpx
import pytest

from paste.engine.request import GenerationParams


def post(server, path, body):
    return httpx.post(f"{server.url}{path}", json={"model": "tiny", **body}, timeout=60)


def test_completions_keep_the_last_tokens(engine, server):
    ids = list(range(5, 25))
    answer = post(server, "/v1/completions", {"prompt": ids, "max_tokens": 4, "temperature": 0,
                                              "truncate_prompt_tokens": 6,
                                              "return_token_ids": True}).json()
    choice = answer["choices"][0]
    own = engine.generate([ids[-6:]], GenerationParams(max_tokens=4, temperature=0.0))[0]
    assert choice["prompt_token_ids"] == ids[-6:] and answer["usage"]["prompt_tokens"] == 6
    assert choice["text"] == own.text
    longer = post(server, "/v1/completions", {"prompt": ids, "max_tokens": 1,
                                              "truncate_prompt_tokens": 100}).json()
    assert longer["usage"]["prompt_tokens"] == len(ids)  # shorter than k: all of it


def test_minus_one_fits_a_prompt_longer_than_the_context(engine, server):
    limit = engine.max_model_len
    ids = [7] * (limit + 50)
    assert post(server, "/v1/completions", {"prompt": ids, "max_tokens": 1}).status_code == 400
    answer = post(server, "/v1/completions", {"prompt": ids, "max_tokens": 1,
                                              "truncate_prompt_tokens": -1}).json()
    assert answer["usage"]["prompt_tokens"] == limit - 1
    assert answer["usage"]["completion_tokens"] == 1


def test_chat_keeps_the_rendered_prompts_last_tokens(engine, server):
    messages = [{"role": "user", "content": "Name three cities in France."}]
    full = post(server, "/tokenize", {"messages": messages}).json()["tokens"]
    answer = post(server, "/v1/chat/completions", {
        "messages": messages, "max_tokens": 3, "temperature": 0, "truncate_prompt_tokens": 5,
        "return_token_ids": True}).json()
    assert answer["prompt_token_ids"] == full[-5:] and answer["usage"]["prompt_tokens"] == 5


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
@pytest.mark.parametrize("value", [0, -2, "5", 1.5])
def test_a_bad_truncation_is_a_400(server, path, value):
    base = ({"prompt": [5, 6]} if "chat" not in path
            else {"messages": [{"role": "user", "content": "hi"}]})
    reply = post(server, path, {**base, "truncate_prompt_tokens": value})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == \
        "truncate_prompt_tokens"
