"""vLLM's stream_options.continuous_usage_stats (server/running_usage.py): every streamed
chunk of a choice carries its usage so far, checked token for token against the token ids
the same stream returns (return_token_ids); the last chunk keeps the answer's usage, and a
bad value is a 400 naming the field."""

from __future__ import annotations

import json

import httpx
import pytest

CONTINUOUS = {"include_usage": True, "continuous_usage_stats": True}
CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "Count with me"}],
        "max_tokens": 12, "temperature": 0, "ignore_eos": True, "stream": True,
        "return_token_ids": True, "stream_options": CONTINUOUS}
COMPLETION = {"model": "tiny", "prompt": ["One two", "Three four five six"], "n": 2,
              "max_tokens": 9, "temperature": 0, "ignore_eos": True, "stream": True,
              "return_token_ids": True, "stream_options": CONTINUOUS}


def chunks(server, path, body) -> list[dict]:
    with httpx.stream("POST", f"{server.url}{path}", json=body, timeout=60) as reply:
        assert reply.status_code == 200
        return [json.loads(line[len("data: "):]) for line in reply.iter_lines()
                if line.startswith("data: ") and line != "data: [DONE]"]


def usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def check_running_counts(got: list[dict], prompts: dict[int, int]) -> dict[int, int]:
    """Asserts each choice chunk's usage is its prompt and the output token ids its stream
    sent so far (this chunk's included); returns each choice's output tokens."""
    seen: dict[int, int] = {}
    for chunk in got[:-1]:
        [choice] = chunk["choices"]
        index = choice["index"]
        seen[index] = seen.get(index, 0) + len(choice.get("token_ids", ()))
        assert chunk["usage"] == usage(prompts[index], seen[index]), chunk
    return seen


def test_every_chat_chunk_carries_the_tokens_so_far(server):
    got = chunks(server, "/v1/chat/completions", dict(CHAT, n=2))
    prompt = len(next(c["prompt_token_ids"] for c in got if "prompt_token_ids" in c))
    assert got[0]["usage"] == usage(prompt, 0)  # the opening chunks too
    seen = check_running_counts(got, {0: prompt, 1: prompt})
    assert seen == {0: 12, 1: 12}
    assert (got[-1]["choices"], got[-1]["usage"]["completion_tokens"]) == ([], 24)
    assert got[-1]["usage"]["prompt_tokens"] == prompt


def test_every_completion_chunk_counts_its_own_prompt(server):
    got = chunks(server, "/v1/completions", dict(COMPLETION, echo=True))
    lengths = {}
    for chunk in got:
        for choice in chunk["choices"]:
            if "prompt_token_ids" in choice:
                lengths[choice["index"]] = len(choice["prompt_token_ids"])
    assert lengths[0] == lengths[1] < lengths[2] == lengths[3]
    assert [c["usage"] for c in got[:4]] == [usage(lengths[i], 0) for i in range(4)]  # echoes
    assert check_running_counts(got, lengths) == {i: 9 for i in range(4)}
    assert got[-1]["usage"] == usage(lengths[0] + lengths[2], 36)


def test_echo_only_counts_no_output_token(server):
    got = chunks(server, "/v1/completions",
                 dict(COMPLETION, prompt="One two", n=1, echo=True, max_tokens=0))
    prompt = got[-1]["usage"]["prompt_tokens"]
    assert prompt > 0
    assert [c["usage"] for c in got[:-1]] == [usage(prompt, 0)] * (len(got) - 1)
    assert got[-1]["usage"] == usage(prompt, 0)


@pytest.mark.parametrize(("options", "usage_in_chunks", "last_usage"), [
    ({"include_usage": True}, None, True),  # the last chunk only
    ({"continuous_usage_stats": True}, "counts", True),  # implies include_usage (vLLM)
    ({"include_usage": False, "continuous_usage_stats": True}, "absent", False),
    ({"include_usage": True, "continuous_usage_stats": False}, None, True),
])
def test_which_chunks_carry_usage(server, options, usage_in_chunks, last_usage):
    got = chunks(server, "/v1/chat/completions", dict(CHAT, stream_options=options))
    body = got[:-1] if last_usage else got
    if usage_in_chunks == "absent":
        assert all("usage" not in c for c in got)
    elif usage_in_chunks is None:
        assert all(c["usage"] is None for c in body)
    else:
        assert all(c["usage"]["total_tokens"] > 0 for c in body)
    if last_usage:
        assert got[-1]["choices"] == [] and got[-1]["usage"]["completion_tokens"] == 12


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_a_non_boolean_is_a_400_naming_the_field(server, path):
    body = dict(CHAT if "chat" in path else COMPLETION,
                stream_options={"continuous_usage_stats": "yes"})
    reply = httpx.post(f"{server.url}{path}", json=body, timeout=60)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "stream_options.continuous_usage_stats"
