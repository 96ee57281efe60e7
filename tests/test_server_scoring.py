"""Scoring over HTTP (lm-eval's loglikelihood requests): /v1/completions with `echo` and
`logprobs` returns the prompt tokens' logprobs first, `max_tokens: 0` with `echo` the prompt
alone, and vLLM's `prompt_logprobs` on completions and chat completions; every value equals
the engine's own GenerationParams.prompt_logprobs on the same token ids."""

from __future__ import annotations

import httpx
import pytest

from paste.engine.request import GenerationParams

PROMPT = "The capital of France is Paris. The capital of Spain is"


def ids_of(engine, text):
    return list(engine.tokenizer.encode(text, add_special_tokens=True))


def own_scores(engine, ids, k=1):
    out = engine.generate([ids], GenerationParams(max_tokens=1, prompt_logprobs=k))[0]
    return out.prompt_logprobs


def text_of(engine, token_id):
    return engine.tokenizer.decode([token_id], skip_special_tokens=False)


def test_echo_with_logprobs_scores_every_prompt_token_first(engine, client):
    ids = ids_of(engine, PROMPT)
    out = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=3, temperature=0,
                                    echo=True, logprobs=2)
    lp, own = out.choices[0].logprobs, own_scores(engine, ids, 2)
    n = len(ids)
    assert out.choices[0].text.startswith(PROMPT)
    assert len(lp.tokens) == n + out.usage.completion_tokens == n + 3
    assert lp.tokens[:n] == [text_of(engine, t) for t in ids]
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert lp.token_logprobs[1:n] == pytest.approx([e.logprob for e in own[1:]], abs=1e-4)
    for p in range(1, n):  # the two most likely tokens, and the token itself
        top, entry = lp.top_logprobs[p], own[p]
        want: dict[str, float] = {}
        for t, v in [*entry.top, (entry.token_id, entry.logprob)]:
            want.setdefault(text_of(engine, t), v)  # two tokens of one text: the likelier
        assert top == pytest.approx(want, abs=1e-4)
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    generated = engine.generate([ids], GenerationParams(max_tokens=3, logprobs=2))[0]
    assert lp.token_logprobs[n:] == pytest.approx([e.logprob for e in generated.logprobs],
                                                  abs=1e-4)


def test_max_tokens_zero_with_echo_returns_the_prompt_alone(engine, client):
    ids = ids_of(engine, PROMPT)
    out = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=0, echo=True,
                                    logprobs=0)
    choice = out.choices[0]
    assert choice.text == PROMPT and choice.finish_reason == "length"
    assert out.usage.completion_tokens == 0 and out.usage.prompt_tokens == len(ids)
    assert len(choice.logprobs.tokens) == len(ids)
    assert choice.logprobs.token_logprobs[1:] == pytest.approx(
        [e.logprob for e in own_scores(engine, ids, 0)[1:]], abs=1e-4)
    assert all(len(top) == 1 for top in choice.logprobs.top_logprobs[1:])  # the token itself
    chunks = list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=0,
                                            echo=True, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == PROMPT
    assert [c.choices[0].finish_reason for c in chunks][-1] == "length"


def test_a_continuations_loglikelihood_as_lm_eval_computes_it(engine, client):
    context, continuation = "The capital of France is", " Paris"
    ctx = ids_of(engine, context)
    whole = ids_of(engine, context + continuation)
    out = client.completions.create(model="tiny", prompt=whole, max_tokens=1, echo=True,
                                    logprobs=1, temperature=0)
    lp = out.choices[0].logprobs
    scored = own_scores(engine, whole)
    got = sum(lp.token_logprobs[len(ctx):len(whole)])
    assert got == pytest.approx(sum(e.logprob for e in scored[len(ctx):]), abs=1e-4)
    greedy = all(max(top, key=top.get) == tok for tok, top in
                 zip(lp.tokens[len(ctx):len(whole)], lp.top_logprobs[len(ctx):len(whole)],
                     strict=True))
    assert greedy == all(e.rank == 1 for e in scored[len(ctx):])


def test_vllm_prompt_logprobs_on_completions(engine, client):
    ids = ids_of(engine, PROMPT)
    out = client.completions.create(model="tiny", prompt=[ids, ids[:5]], max_tokens=2,
                                    extra_body={"prompt_logprobs": 3})
    for choice, prompt in zip(out.choices, [ids, ids[:5]], strict=True):
        scores = choice.model_extra["prompt_logprobs"]
        own = own_scores(engine, prompt, 3)
        assert len(scores) == len(prompt) and scores[0] is None
        for p in range(1, len(prompt)):
            entry, got = own[p], scores[p]
            mine = got[str(prompt[p])]
            assert mine["rank"] == entry.rank
            assert mine["logprob"] == pytest.approx(entry.logprob, abs=1e-4)
            assert mine["decoded_token"] == text_of(engine, prompt[p])
            others = {k: v for k, v in got.items() if k != str(prompt[p])}
            assert len(got) == 3 + (entry.rank > 3)
            assert sorted(v["rank"] for v in others.values()) == sorted(
                r for r in (1, 2, 3) if r != entry.rank)
    assert out.choices[0].logprobs is None  # output logprobs were not asked for


def test_vllm_prompt_logprobs_on_chat_completions(engine, server):
    body = {"model": "tiny", "max_tokens": 2, "prompt_logprobs": 1,
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "prompt_cache_key": "scoring-session"}  # a session key does not skip any row
    answer = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60).json()
    scores = answer["prompt_logprobs"]
    assert len(scores) == answer["usage"]["prompt_tokens"] and scores[0] is None
    assert all(len(s) in (1, 2) for s in scores[1:])
    assert answer["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    plain = httpx.post(f"{server.url}/v1/chat/completions",
                       json=dict(body, prompt_logprobs=None), timeout=60).json()
    assert "prompt_logprobs" not in plain


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/completions", {"prompt": PROMPT, "prompt_logprobs": 1, "stream": True},
         "prompt_logprobs"),
        ("/v1/completions", {"prompt": PROMPT, "prompt_logprobs": 21}, "prompt_logprobs"),
        ("/v1/completions", {"prompt": PROMPT, "max_tokens": 0}, "max_tokens"),  # no echo
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                  "prompt_logprobs": 1, "stream": True}, "prompt_logprobs"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                  "prompt_logprobs": -1}, "prompt_logprobs"),
    ],
)
def test_bad_scoring_requests_are_400_naming_the_field(server, path, body, param):
    reply = httpx.post(f"{server.url}{path}", json={"model": "tiny", **body}, timeout=60)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param


def test_streamed_echo_with_logprobs_reassembles_to_the_whole_answer(client):
    kwargs = dict(model="tiny", prompt=PROMPT, max_tokens=4, temperature=0, echo=True,
                  logprobs=1)
    whole = client.completions.create(**kwargs).choices[0]
    text, tokens, values = "", [], []
    for chunk in client.completions.create(**kwargs, stream=True):
        for choice in chunk.choices:
            text += choice.text
            if choice.logprobs is not None:
                tokens += choice.logprobs.tokens
                values += choice.logprobs.token_logprobs
    assert text == whole.text and tokens == whole.logprobs.tokens
    assert values[0] is None and values[1:] == pytest.approx(whole.logprobs.token_logprobs[1:],
                                                             abs=1e-4)
