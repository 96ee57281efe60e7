"""Prompt log-probabilities (GenerationParams.prompt_logprobs) on a real tiny model, against
transformers' own forward pass of the same weights: every prompt token's logprob, rank and
top alternatives, across chunked prefill, a cached prefix and a batch of other requests."""

from __future__ import annotations

import pytest
import torch

from paste.engine.request import GenerationParams, TokenLogprob
from paste.errors import InvalidArgumentError
from tiny_model import build_tiny_model, make_tiny_engine


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-prompt-logprobs"), "qwen2")


@pytest.fixture(scope="module")
def engine(folder):
    eng = make_tiny_engine(folder)  # 64-token steps: a longer prompt prefills in chunks
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def reference(folder):
    """Log-softmax rows of transformers' forward pass over a prompt (float64 to compare)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), torch_dtype=torch.float32).eval()

    def logp(ids: list[int]) -> torch.Tensor:
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].double()
        return torch.log_softmax(logits, dim=-1)

    return logp


def prompt(n: int, seed: int) -> list[int]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(3, 200, (n,), generator=gen).tolist()


def check_against(entries: list[TokenLogprob | None], ids: list[int], logp: torch.Tensor,
                  k: int) -> None:
    assert len(entries) == len(ids) and entries[0] is None
    for p in range(1, len(ids)):
        e, row = entries[p], logp[p - 1]
        assert e is not None and e.token_id == ids[p]
        assert e.logprob == pytest.approx(float(row[ids[p]]), abs=1e-4)
        assert e.rank == 1 + int((row > row[ids[p]] + 1e-6).sum())
        assert len(e.top) == k
        assert [t for t, _ in e.top] == row.topk(k).indices.tolist()
        assert [v for _, v in e.top] == pytest.approx(row.topk(k).values.tolist(), abs=1e-4)


def test_prompt_logprobs_equal_transformers_across_chunks(engine, reference):
    ids = prompt(150, 1)  # 64-token steps: three chunks, a chunk boundary mid-block
    out = engine.generate([ids], GenerationParams(max_tokens=2, prompt_logprobs=3,
                                                  ignore_eos=True))[0]
    check_against(out.prompt_logprobs, ids, reference(ids), 3)
    assert out.logprobs is None  # output logprobs are a separate ask
    assert out.num_cached_tokens == 0


def test_a_cached_prefix_is_computed_again_and_others_still_hit_it(engine, reference):
    ids = prompt(40, 2)
    first = engine.generate([ids], GenerationParams(max_tokens=1))[0]
    scored = engine.generate([ids], GenerationParams(max_tokens=1, prompt_logprobs=0))[0]
    again = engine.generate([ids], GenerationParams(max_tokens=1))[0]
    assert first.num_cached_tokens == 0 and again.num_cached_tokens == 36
    assert scored.num_cached_tokens == 0
    check_against(scored.prompt_logprobs, ids, reference(ids), 0)
    assert scored.token_ids == first.token_ids


def test_batched_with_other_requests_each_gets_its_own(engine, reference):
    a, b, c = prompt(30, 3), prompt(70, 4), prompt(9, 5)
    handles = [engine.submit(a, GenerationParams(max_tokens=3, prompt_logprobs=2)),
               engine.submit(b, GenerationParams(max_tokens=3)),
               engine.submit(c, GenerationParams(max_tokens=3, prompt_logprobs=5))]
    outs = [h.result() for h in handles]
    check_against(outs[0].prompt_logprobs, a, reference(a), 2)
    assert outs[1].prompt_logprobs is None
    check_against(outs[2].prompt_logprobs, c, reference(c), 5)


def test_a_one_token_prompt_has_only_the_first_none(engine):
    out = engine.generate([[7]], GenerationParams(max_tokens=1, prompt_logprobs=1))[0]
    assert out.prompt_logprobs == [None]


def test_output_logprobs_carry_their_rank(engine, reference):
    ids = prompt(12, 6)
    out = engine.generate([ids], GenerationParams(max_tokens=4, ignore_eos=True, temperature=1.0,
                                                  seed=3, logprobs=1))[0]
    full = reference(ids + out.token_ids)
    for i, e in enumerate(out.logprobs):
        row = full[len(ids) - 1 + i]
        assert e.rank == 1 + int((row > row[e.token_id] + 1e-6).sum())


def test_bad_prompt_logprobs_are_typed_errors(engine):
    with pytest.raises(InvalidArgumentError, match="prompt_logprobs must be >= 0 or None, "
                                                   "got -1"):
        GenerationParams(prompt_logprobs=-1)
    with pytest.raises(InvalidArgumentError, match="prompt_logprobs 21 is above the engine's "
                                                   "max_logprobs 20"):
        engine.generate([[1, 2, 3]], GenerationParams(max_tokens=1, prompt_logprobs=21))
    handle = engine.submit_turn("s1", [1, 2, 3], GenerationParams(max_tokens=1,
                                                                 prompt_logprobs=1))
    with pytest.raises(InvalidArgumentError, match="without a session"):
        handle.result()
    ok = engine.generate([[1, 2, 3]], GenerationParams(max_tokens=1))[0]  # the engine serves on
    assert len(ok.token_ids) == 1
