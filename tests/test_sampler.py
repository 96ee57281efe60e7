"""Sampler: greedy, top-k/top-p masks on handcrafted distributions, seeded reproducibility."""

from __future__ import annotations

import math

import pytest
import torch

from paste.engine.sampler import (
    InvalidSamplingParamsError,
    Sampler,
    SamplingParams,
    apply_top_k_top_p,
)

# probabilities by token id: token 2 is the most likely, then 0, 3, 1
PROBS = [0.3, 0.1, 0.4, 0.2]
LOGITS = torch.tensor([[math.log(p) for p in PROBS]])


def _kept(top_k: int, top_p: float) -> list[int]:
    masked = apply_top_k_top_p(LOGITS, torch.tensor([top_k]), torch.tensor([top_p]))
    finite = torch.isfinite(masked[0])
    assert torch.equal(masked[0][finite], LOGITS[0][finite])  # kept logits are unchanged
    return torch.nonzero(finite).flatten().tolist()


@pytest.mark.parametrize(
    ("top_k", "top_p", "kept"),
    [
        (0, 1.0, [0, 1, 2, 3]),
        (0, 0.35, [2]),  # 0.4 alone reaches 0.35
        (0, 0.65, [0, 2]),  # 0.4 < 0.65, then 0.4 + 0.3 reaches it
        (0, 0.85, [0, 2, 3]),
        (0, 0.95, [0, 1, 2, 3]),  # 0.9 before token 1 is still < 0.95
        (2, 1.0, [0, 2]),
        (3, 0.65, [0, 2]),
        (2, 0.5, [2]),  # top-p on the renormalised top-2: 0.4/0.7 = 0.571 >= 0.5
        (1, 1.0, [2]),
    ],
)
def test_top_k_top_p_mask_exact_tokens(top_k: int, top_p: float, kept: list[int]) -> None:
    assert _kept(top_k, top_p) == kept


def test_greedy_is_argmax_and_top_k_one_is_greedy() -> None:
    logits = torch.randn(6, 50, generator=torch.Generator().manual_seed(0))
    sampler = Sampler(seed=0)
    greedy = [sampler.new_state(SamplingParams(temperature=0.0)) for _ in range(6)]
    top1 = [sampler.new_state(SamplingParams(temperature=1.3, top_k=1)) for _ in range(6)]
    assert torch.equal(sampler.sample(logits, greedy), logits.argmax(dim=-1))
    assert torch.equal(sampler.sample(logits, top1), logits.argmax(dim=-1))


def test_sampled_tokens_stay_inside_the_nucleus() -> None:
    sampler = Sampler(seed=3)
    states = [sampler.new_state(SamplingParams(top_p=0.65)) for _ in range(400)]
    tokens = sampler.sample(LOGITS.expand(400, -1), states)
    assert set(tokens.tolist()) == {0, 2}


@pytest.mark.parametrize(("min_p", "kept"), [(0.6, {0, 2}), (0.5, {0, 2, 3}), (0.2, {0, 1, 2, 3})])
def test_min_p_keeps_tokens_at_least_that_share_of_the_top_one(min_p: float,
                                                                kept: set[int]) -> None:
    # top probability 0.4: min_p 0.6 -> floor 0.24 (0.3 and 0.4 stay); 0.5 -> floor 0.2
    # (0.2 is not below it); 0.2 -> floor 0.08 (all stay)
    sampler = Sampler(seed=4)
    states = [sampler.new_state(SamplingParams(min_p=min_p)) for _ in range(2000)]
    tokens = sampler.sample(LOGITS.expand(2000, -1), states)
    assert set(tokens.tolist()) == kept


def test_seeded_requests_reproduce_regardless_of_batch() -> None:
    params = SamplingParams(temperature=0.9, top_k=40, top_p=0.9, seed=1234)
    gen = torch.Generator().manual_seed(5)
    steps = [torch.randn(3, 64, generator=gen) for _ in range(5)]

    alone_sampler = Sampler(seed=1)
    alone = alone_sampler.new_state(params)
    alone_tokens = [int(alone_sampler.sample(step[:1], [alone])[0]) for step in steps]

    batch_sampler = Sampler(seed=2)  # different shared stream
    seeded = batch_sampler.new_state(params)
    others = [
        batch_sampler.new_state(SamplingParams(temperature=1.0)),
        batch_sampler.new_state(SamplingParams(temperature=0.7, seed=99)),
    ]
    batch_tokens = [int(batch_sampler.sample(step, [seeded, *others])[0]) for step in steps]
    assert batch_tokens == alone_tokens
    assert len(set(alone_tokens)) > 1  # it really sampled, not argmax every time


def test_temperature_sharpens_to_expected_frequencies() -> None:
    """With a fixed seed, 20000 draws at temperature 0.5 land within 0.01 of p^2 / sum p^2."""
    sampler = Sampler(seed=11)
    n = 20000
    states = [sampler.new_state(SamplingParams(temperature=0.5))] * n
    counts = torch.bincount(sampler.sample(LOGITS.expand(n, -1), states), minlength=4)
    squared = torch.tensor(PROBS) ** 2
    expected = squared / squared.sum()
    assert torch.allclose(counts / n, expected, atol=0.01)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": -0.1},
        {"temperature": float("nan")},
        {"top_k": -2},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"min_p": -0.1},
        {"min_p": 1.1},
    ],
)
def test_invalid_params_raise_typed_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidSamplingParamsError):
        SamplingParams(**kwargs)  # type: ignore[arg-type]


def test_logits_rows_must_match_states() -> None:
    sampler = Sampler(seed=0)
    with pytest.raises(InvalidSamplingParamsError, match="m == 1"):
        sampler.sample(torch.zeros(2, 4), [sampler.new_state(SamplingParams())])
