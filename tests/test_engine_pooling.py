"""Embeddings (engine/pooling.py): a pooled prompt equals transformers' own final hidden
states on the same weights (the last token's, or the mean), whatever the batch, the chunking
of the prefill or a cached prefix does; bad combinations are typed errors."""

from __future__ import annotations

import pytest
import torch

from paste.engine.pooling import Pooler, PoolingParams
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from tiny_model import build_tiny_model, make_tiny_engine

# float32 to compare with transformers; prompts prefilled in chunks of 16 tokens
SETTINGS = dict(attention_backend="cpu", max_num_batched_tokens=16, dtype="float32")
PROMPTS = ["The capital of France", "def add(a, b):\n    return a + b  # a longer prompt, "
           "prefilled in chunks of 16 tokens", "tool results: 42"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-pool"), "qwen3")


@pytest.fixture(scope="module")
def engine(tiny_folder):
    eng = make_tiny_engine(tiny_folder, **SETTINGS)
    yield eng
    eng.shutdown()


def hf_hidden(folder, ids: list[int]) -> torch.Tensor:
    """transformers' final-norm hidden states [len(ids), hidden] of the prompt."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).last_hidden_state[0]


def embed(engine, ids: list[list[int]], pooling_type: str, normalize: bool = True):
    params = GenerationParams(max_tokens=1, pooling=PoolingParams(pooling_type, normalize))
    return [o.embedding for o in engine.generate(ids, params)]


@pytest.mark.parametrize("pooling_type", ["LAST", "MEAN"])
def test_pooled_prompts_equal_transformers_hidden_states(engine, tiny_folder, pooling_type):
    ids = [engine.encode(p) for p in PROMPTS]
    assert max(map(len, ids)) > 16  # one prompt is prefilled in several chunks
    raw = embed(engine, ids, pooling_type, normalize=False)
    unit = embed(engine, ids, pooling_type)
    for prompt, got, got_unit in zip(ids, raw, unit, strict=True):
        hidden = hf_hidden(tiny_folder, prompt)
        want = hidden[-1] if pooling_type == "LAST" else hidden.mean(dim=0)
        assert torch.allclose(torch.tensor(got), want, atol=1e-4), pooling_type
        assert torch.allclose(torch.tensor(got_unit), want / want.norm(), atol=1e-5)
        assert abs(torch.tensor(got_unit).norm().item() - 1.0) < 1e-5


def test_a_cached_prefix_and_generating_neighbours_change_nothing(engine):
    ids = [engine.encode(p) for p in PROMPTS]
    alone = [embed(engine, [p], kind)[0] for p in ids for kind in ("LAST", "MEAN")]
    # the same prompts again (LAST reuses their cached blocks) beside generating requests
    handles = [engine.submit(p, GenerationParams(max_tokens=8, ignore_eos=True)) for p in ids]
    again = [embed(engine, [p], kind)[0] for p in ids for kind in ("LAST", "MEAN")]
    assert [len(h.result().token_ids) for h in handles] == [8, 8, 8]
    for a, b in zip(alone, again, strict=True):
        assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-5)
    out = engine.generate([ids[0]], GenerationParams(max_tokens=1,
                                                     pooling=PoolingParams()))[0]
    assert out.finished and len(out.token_ids) == 1 and out.embedding is not None
    plain = engine.generate([ids[0]], GenerationParams(max_tokens=2))[0]
    assert plain.embedding is None


@pytest.mark.parametrize("kwargs, message", [
    ({"max_tokens": 2}, "max_tokens other than 1"),
    ({"prompt_logprobs": 1}, "prompt_logprobs"),
    ({"forced_tokens": (1,)}, "forced_tokens"),
    ({"num_draft_tokens": 2}, "drafts"),
])
def test_a_pooled_request_that_would_generate_is_refused(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=f"ends at its prompt: not with {message}"):
        GenerationParams(**{"max_tokens": 1, **kwargs}, pooling=PoolingParams())


def test_bad_pooling_params_are_typed_errors(engine):
    with pytest.raises(InvalidArgumentError, match="pooling_type must be one of LAST, MEAN"):
        PoolingParams("CLS")
    with pytest.raises(InvalidArgumentError, match="normalize must be true or false"):
        PoolingParams("LAST", 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="pooling must be PoolingParams"):
        GenerationParams(max_tokens=1, pooling="LAST")  # type: ignore[arg-type]
    ids = engine.encode(PROMPTS[0])
    with pytest.raises(InvalidArgumentError, match="without a session"):
        engine.submit_turn("s", ids, GenerationParams(max_tokens=1,
                                                      pooling=PoolingParams())).result()
    assert embed(engine, [ids], "LAST")[0] is not None  # the engine serves on


def test_rows_computed_again_after_a_preemption_count_once():
    hidden = torch.arange(24, dtype=torch.float32).reshape(6, 4)
    pooler = Pooler()
    pooler.add_rows(7, 0, hidden[0:2])
    pooler.add_rows(7, 2, hidden[2:4])  # preempted here: the prompt is computed again
    pooler.add_rows(7, 0, hidden[0:3])
    pooler.add_rows(7, 3, hidden[3:5])
    got = pooler.finish(7, hidden[5], PoolingParams("MEAN", normalize=False))
    assert got == hidden.mean(dim=0).tolist()
    assert pooler.finish(7, hidden[5], PoolingParams("MEAN", normalize=False)) == \
        hidden[5].tolist()  # finished: its sum is gone


def test_pooled_prompts_survive_preemption_under_a_tiny_kv_pool(engine, tiny_folder):
    ids = [engine.encode(p * 2) for p in PROMPTS]  # long prompts, prefilled in chunks
    want = {kind: embed(engine, ids, kind) for kind in ("LAST", "MEAN")}
    small = make_tiny_engine(tiny_folder, **SETTINGS, num_blocks=48, max_model_len=128)
    try:
        busy = [small.submit(small.encode(p), GenerationParams(max_tokens=40, ignore_eos=True))
                for p in PROMPTS * 2]
        got = {kind: embed(small, ids, kind) for kind in ("LAST", "MEAN")}
        assert all(len(h.result().token_ids) == 40 for h in busy)
        assert small.core.loop.stats.num_preemptions > 0
    finally:
        small.shutdown()
    for kind in ("LAST", "MEAN"):
        for a, b in zip(want[kind], got[kind], strict=True):
            assert torch.allclose(torch.tensor(a), torch.tensor(b), atol=1e-5), kind
