"""Per-token log-probabilities (GenerationParams.logprobs) on a real tiny model: exact
relations that hold whatever the weights are."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from test_session_support import shared_tiny_folder, tiny_engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory))
    yield eng
    eng.shutdown()


def test_greedy_tokens_are_their_own_top_alternative(engine):
    out = engine.generate([[1, 2, 3]], GenerationParams(max_tokens=6, temperature=0.0,
                                                       ignore_eos=True, logprobs=3))[0]
    assert [e.token_id for e in out.logprobs] == out.token_ids and len(out.token_ids) == 6
    for e in out.logprobs:
        assert len(e.top) == 3 and e.top[0] == (e.token_id, e.logprob)
        values = [v for _t, v in e.top]
        assert values == sorted(values, reverse=True) and values[0] <= 0.0
        assert sum(math.exp(v) for v in values) <= 1.0 + 1e-6


def test_sampled_tokens_logprobs_and_off_by_default(engine):
    params = GenerationParams(max_tokens=8, temperature=1.0, seed=5, ignore_eos=True)
    plain = engine.generate([[4, 5]], params)[0]
    asked = engine.generate([[4, 5]], replace(params, logprobs=0))[0]
    assert plain.logprobs is None
    assert asked.token_ids == plain.token_ids  # asking changes nothing that is sampled
    assert [e.token_id for e in asked.logprobs] == asked.token_ids
    assert all(e.top == () and e.logprob <= 0.0 for e in asked.logprobs)


def test_out_of_range_is_a_typed_error(engine):
    with pytest.raises(InvalidArgumentError, match="logprobs must be >= 0 or None, got -1"):
        GenerationParams(logprobs=-1)
    assert engine.info.max_logprobs == 20  # EngineConfig's default, vLLM's
    with pytest.raises(InvalidArgumentError, match=r"^logprobs 21 is above the engine's "
                                                   r"max_logprobs 20 \(--max-logprobs\)$"):
        engine.generate([[4, 5]], GenerationParams(max_tokens=1, logprobs=21))
    ok = engine.generate([[4, 5]], GenerationParams(max_tokens=1, logprobs=20))[0]
    assert len(ok.logprobs[0].top) == 20  # the engine serves on


def test_max_logprobs_raises_the_limit_up_to_the_whole_vocabulary(tmp_path_factory):
    from paste.engine.config import EngineConfig

    with pytest.raises(InvalidArgumentError, match="max_logprobs must be >= 0, or -1 for the "
                                                   "whole vocabulary, got -2"):
        EngineConfig(max_logprobs=-2)
    folder = shared_tiny_folder(tmp_path_factory)
    for setting in (30, -1, 0):
        eng = tiny_engine(folder, max_logprobs=setting)
        try:
            vocab = eng.info.vocab_size
            limit = {30: 30, -1: vocab, 0: 0}[setting]
            assert eng.info.max_logprobs == limit
            if limit:
                out = eng.generate([[4, 5]], GenerationParams(max_tokens=2, logprobs=limit,
                                                              prompt_logprobs=limit))[0]
                assert [len(e.top) for e in out.logprobs] == [limit, limit]
                assert len(out.prompt_logprobs[1].top) == limit
            with pytest.raises(InvalidArgumentError, match=f"above the engine's max_logprobs "
                                                           f"{limit} "):
                eng.generate([[4, 5]], GenerationParams(max_tokens=1, prompt_logprobs=limit + 1))
        finally:
            eng.shutdown()
