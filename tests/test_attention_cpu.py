"""The C++ "cpu" attention backend against the torch reference, on plans built by the real
scheduler (paste.core.BatchLoop: chunked prefill, decode, prefix hits, GQA), plus its typed
errors and strided inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from paste.kernels.cpu_attention import CpuAttentionBackend, CpuAttentionInputError
from paste.kernels.torch_ref import TorchAttentionBackend

from paste.core import BatchLoop, BatchLoopConfig
from paste.engine.models.metadata import AttentionMetadata
from paste.errors import InvalidArgumentError

ALL_KINDS = {"decode", "prefill", "chunk over cache", "prefix hit", "mixed batch"}


def _backends(h: int, kvh: int, d: int, threads: int = 1) -> tuple[object, object]:
    kw = dict(num_heads=h, num_kv_heads=kvh, head_dim=d, scale=d**-0.5)
    return CpuAttentionBackend(**kw, num_threads=threads), TorchAttentionBackend(**kw)


def _metadata(plan: object, block_size: int) -> AttentionMetadata:
    return AttentionMetadata.build(
        block_size=block_size,
        positions=plan.positions,
        slot_mapping=plan.slot_mapping,
        query_start_loc=plan.query_start_loc,
        seq_lens=plan.seq_lens,
        num_computed_tokens=plan.num_computed_tokens,
        kv_indptr=plan.kv_indptr,
        kv_indices=plan.kv_indices,
        kv_last_page_len=plan.kv_last_page_len,
        logits_indices=plan.logits_indices,
    )


def _run_scheduler_trace(
    h: int, kvh: int, d: int, bs: int, threads: int, dtype: torch.dtype, seed: int
) -> set[str]:
    """Drives a BatchLoop to completion; every step both backends store and attend on their
    own copy of the cache. Returns which kinds of work the compared plans contained."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    num_blocks = 32 + 512 // bs
    loop = BatchLoop(
        BatchLoopConfig(
            num_blocks=num_blocks,
            block_size=bs,
            max_num_batched_tokens=24,
            max_num_seqs=6,
            max_model_len=128,
        )
    )
    shared = rng.integers(0, 50, size=3 * bs + 1).tolist()  # prefix hits for later prompts
    for i in range(6):
        tail = rng.integers(0, 50, size=int(rng.integers(1, 30))).tolist()
        loop.add_sequence((shared if i % 2 else []) + tail, max_tokens=int(rng.integers(3, 12)))
    cpu, ref = _backends(h, kvh, d, threads)
    # Random garbage in the free slots: nothing may read it.
    caches = [torch.randn(num_blocks, bs, kvh, d).to(dtype) for _ in range(2)]
    ref_caches = [c.clone() for c in caches]
    steps, seen = 0, set()
    while loop.has_unfinished and steps < 60:
        plan = loop.schedule(float(steps))
        if plan.num_tokens:
            md = _metadata(plan, bs)
            t = plan.num_tokens
            q_lens, computed = np.diff(plan.query_start_loc), plan.num_computed_tokens
            seen.update(
                name
                for name, hit in (
                    ("decode", np.any(q_lens == 1)),
                    ("prefill", np.any((q_lens > 1) & (computed == 0))),
                    ("chunk over cache", np.any((q_lens > 1) & (computed > 0))),
                    ("prefix hit", np.any(plan.admitted_num_reused > 0)),
                    ("mixed batch", plan.num_seqs > 1 and np.any(q_lens > 1)),
                )
                if hit
            )
            q = torch.randn(t, h, d).to(dtype)
            k, v = torch.randn(t, kvh, d).to(dtype), torch.randn(t, kvh, d).to(dtype)
            cpu.plan(md)
            cpu.store_kv(k, v, caches[0], caches[1], md.slot_mapping)
            ref.store_kv(k, v, ref_caches[0], ref_caches[1], md.slot_mapping)
            assert torch.equal(caches[0], ref_caches[0]) and torch.equal(caches[1], ref_caches[1])
            out = cpu.forward(q, caches[0], caches[1], md)
            expected = ref.forward(q, ref_caches[0], ref_caches[1], md)
            if dtype == torch.float32:
                torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
            else:  # one bfloat16 rounding of a float32 result that differs in the last bits
                torch.testing.assert_close(out, expected, rtol=2e-2, atol=1e-3)
            steps += 1
        loop.commit(rng.integers(0, 50, size=len(plan.sample_seq_ids)).astype(np.int32))
    return seen


@pytest.mark.parametrize(
    "h, kvh, d, bs, threads",
    [
        (4, 4, 16, 4, 1),  # MHA, small blocks
        (6, 2, 20, 16, 2),  # GQA 3, head_dim with a scalar tail, 2 threads
        (9, 3, 64, 16, 2),  # SmolLM2-135M's attention shape
        (8, 1, 32, 1, 1),  # MQA, one token per block
    ],
)
def test_matches_torch_reference_on_scheduler_plans(
    h: int, kvh: int, d: int, bs: int, threads: int
) -> None:
    seen = _run_scheduler_trace(h, kvh, d, bs, threads, torch.float32, seed=h * 100 + bs)
    assert seen == ALL_KINDS


def test_bfloat16_matches_torch_reference() -> None:
    assert _run_scheduler_trace(4, 2, 32, 8, 2, torch.bfloat16, seed=5) == ALL_KINDS


def test_strided_query_view_needs_no_copy_and_matches() -> None:
    """q sliced out of a fused QKV projection (token stride > num_heads * head_dim)."""
    torch.manual_seed(3)
    h, kvh, d, bs = 4, 2, 16, 4
    cpu, ref = _backends(h, kvh, d)
    md = AttentionMetadata.from_block_tables(
        block_size=bs,
        block_tables=[[2, 0, 5], [1]],
        num_computed_tokens=[3, 0],
        num_new_tokens=[6, 2],
    )
    qkv = torch.randn(md.num_tokens, (h + 2 * kvh) * d)
    q = qkv[:, : h * d].view(md.num_tokens, h, d)
    k = qkv[:, h * d : (h + kvh) * d].view(md.num_tokens, kvh, d)
    v = qkv[:, (h + kvh) * d :].view(md.num_tokens, kvh, d)
    assert not q.is_contiguous()
    caches = [torch.randn(6, bs, kvh, d) for _ in range(2)]
    cpu.store_kv(k, v, caches[0], caches[1], md.slot_mapping)
    out = cpu.forward(q, caches[0], caches[1], md)
    expected = ref.forward(q.contiguous(), caches[0], caches[1], md)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_bad_tensors_raise_typed_errors_before_the_kernel_runs() -> None:
    cpu, _ = _backends(4, 2, 8)
    md = AttentionMetadata.from_block_tables(
        block_size=4, block_tables=[[1, 0]], num_computed_tokens=[2], num_new_tokens=[3]
    )
    kc, vc = torch.zeros(3, 4, 2, 8), torch.zeros(3, 4, 2, 8)
    q = torch.randn(3, 4, 8)
    with pytest.raises(CpuAttentionInputError, match="float32 or bfloat16"):
        cpu.forward(q.double(), kc.double(), vc.double(), md)
    with pytest.raises(CpuAttentionInputError, match="shape"):
        cpu.forward(torch.randn(3, 2, 8), kc, vc, md)
    with pytest.raises(CpuAttentionInputError, match="contiguous"):
        cpu.forward(q, kc.transpose(0, 1), vc.transpose(0, 1), md)
    cpu.forward(q, kc, vc, md)  # a good pair is checked once and remembered...
    with pytest.raises(CpuAttentionInputError, match="dtypes differ"):
        cpu.forward(q, kc, vc.bfloat16(), md)  # ...which does not excuse another v_cache
    with pytest.raises(CpuAttentionInputError, match="same dtype"):
        cpu.forward(q.bfloat16(), kc, vc, md)
    with pytest.raises(CpuAttentionInputError, match="CPU"):
        cpu.forward(q.to("meta"), kc, vc, md)
    with pytest.raises(CpuAttentionInputError, match="slot_mapping"):
        cpu.store_kv(q[:, :2], q[:, :2], kc, vc, md.slot_mapping[:2])
    with pytest.raises(CpuAttentionInputError):
        CpuAttentionBackend(num_heads=4, num_kv_heads=2, head_dim=8, scale=1.0, dtype=torch.half)
    assert issubclass(CpuAttentionInputError, InvalidArgumentError)


def test_bad_plans_are_rejected_by_the_kernel_without_writing() -> None:
    cpu, _ = _backends(4, 2, 8)
    kc, vc = torch.zeros(3, 4, 2, 8), torch.zeros(3, 4, 2, 8)
    k = torch.ones(2, 2, 8)
    with pytest.raises(InvalidArgumentError, match="slot_mapping"):
        cpu.store_kv(k, k, kc, vc, torch.tensor([0, 12]))  # 3 blocks x 4 = 12 slots
    assert not kc.any() and not vc.any()
    md = AttentionMetadata.from_block_tables(
        block_size=4, block_tables=[[7]], num_computed_tokens=[0], num_new_tokens=[2]
    )
    with pytest.raises(InvalidArgumentError, match="block id"):
        cpu.forward(torch.randn(2, 4, 8), kc, vc, md)


def test_thread_count_defaults_to_paste_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASTE_NUM_THREADS", "3")
    backend = CpuAttentionBackend(num_heads=2, num_kv_heads=1, head_dim=8, scale=1.0)
    assert backend.num_threads == 3
