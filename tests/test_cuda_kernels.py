"""paste's CUDA kernels without a GPU: their bodies, run by the CPU emulation
(paste._core.cuda.emulate_*, the very functions the GPU kernels call), against the torch
reference (store_kv_by_slot, TorchAttentionBackend, apply_top_k_top_p) through the "cuda"
backend's own argument marshalling; and the typed error of a real launch on a machine
without a GPU (CudaUnavailableError, never a crash)."""

from __future__ import annotations

import math

import pytest
import torch
from paste.kernels.cuda_backend import (
    CudaAttentionBackend,
    CudaKernelInputError,
    cuda_kernels_available,
    sample_tokens,
)
from paste.kernels.torch_ref import TorchAttentionBackend, store_kv_by_slot

from paste import _core
from paste.engine.attention import (
    AttentionBackendUnavailableError,
    attention_backend_names,
    resolve_attention_backend_name,
)
from paste.engine.models.metadata import AttentionMetadata
from paste.engine.sampler import apply_top_k_top_p
from paste.errors import CudaUnavailableError, PasteError

NO_GPU = _core.cuda.device_count() == 0
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
TOLERANCE = {torch.float32: 2e-5, torch.bfloat16: 2e-2, torch.float16: 3e-3}


def _backends(h: int, kvh: int, d: int, lanes: int = 4) -> tuple[CudaAttentionBackend, object]:
    kw = dict(num_heads=h, num_kv_heads=kvh, head_dim=d, scale=d**-0.5)
    return CudaAttentionBackend(**kw, emulate=True, num_lanes=lanes), TorchAttentionBackend(**kw)


# ---------------------------------------------------------------------------------------------
# The typed error path.


def test_cuda_unavailable_error_is_a_paste_runtime_error():
    assert issubclass(CudaUnavailableError, PasteError)
    assert issubclass(CudaUnavailableError, RuntimeError)


def test_core_reports_how_it_was_built():
    assert isinstance(_core.cuda.built, bool)
    assert _core.cuda.device_count() >= 0
    assert (_core.cuda.architectures != "") == _core.cuda.built


@pytest.mark.skipif(not NO_GPU, reason="a CUDA device is present")
@pytest.mark.parametrize(
    ("kernel", "args"),
    [
        ("store_kv", ("float32", 1, 1, 4, (0, 4, 4), (0, 4, 4), 0, (0, 0, 1, 1, 4, 4, 4))),
        (
            "paged_attention",
            (
                "float32",
                1,
                (1, 1, 4, 0.5),
                (1, 0, 0, 0, 0),
                (0, 4, 4),
                (0, 0, 1, 1, 4, 4, 4),
                (0, 4, 4),
            ),
        ),
        ("sample", (1, 8, 0, 8, (0, 0, 0, 0, 0), 0)),
    ],
)
def test_a_kernel_launch_without_a_gpu_raises_the_typed_error(kernel, args):
    # Null device pointers on purpose: the error must come before anything is touched.
    with pytest.raises(CudaUnavailableError, match=f"CUDA kernel {kernel} cannot run"):
        getattr(_core.cuda, kernel)(*args, stream=0)


@pytest.mark.skipif(not NO_GPU, reason="a CUDA device is present")
def test_the_backend_and_sampler_refuse_to_start_without_a_gpu():
    assert not cuda_kernels_available("cuda")
    with pytest.raises(CudaUnavailableError):
        CudaAttentionBackend(num_heads=2, num_kv_heads=1, head_dim=8, scale=1.0, device="cuda")
    one = torch.ones(1)
    with pytest.raises(CudaUnavailableError):
        sample_tokens(torch.zeros(1, 4), one, one.int(), one, one.long(), one.long())


def test_registry_never_picks_cuda_on_the_cpu():
    if "cuda" not in attention_backend_names():
        pytest.skip("the cuda backend is not registered in paste.engine.attention")
    assert resolve_attention_backend_name("auto", "cpu", torch.float32) != "cuda"
    with pytest.raises(AttentionBackendUnavailableError):
        resolve_attention_backend_name("cuda", "cpu")
    if NO_GPU:
        assert resolve_attention_backend_name("auto", "cuda", torch.bfloat16) != "cuda"


# ---------------------------------------------------------------------------------------------
# KV store and attention: emulated kernels vs the torch reference.


@pytest.mark.parametrize("dtype", DTYPES)
def test_store_kv_writes_the_reference_slots(dtype):
    torch.manual_seed(0)
    num_blocks, bs, kvh, d = 5, 4, 2, 8
    cuda, _ = _backends(4, kvh, d)
    caches = [torch.randn(num_blocks, bs, kvh, d).to(dtype) for _ in range(2)]
    ref = [c.clone() for c in caches]
    k, v = torch.randn(6, kvh, d), torch.randn(6, kvh, d)
    slots = torch.tensor([3, -1, 17, 0, 19, 8])
    cuda.store_kv(k, v, *caches, slots)
    store_kv_by_slot(k, v, *ref, slots)
    assert torch.equal(caches[0], ref[0]) and torch.equal(caches[1], ref[1])


PLANS = {
    "decode": ([[3, 0], [1], [4, 2, 5]], [6, 2, 9], [1, 1, 1]),
    "prefill": ([[1, 5]], [0], [7]),
    "mixed": ([[0, 6], [2], [7, 3, 4]], [5, 0, 8], [1, 3, 4]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("plan", sorted(PLANS))
@pytest.mark.parametrize(("h", "kvh", "lanes"), [(4, 2, 4), (3, 1, 1), (2, 2, 7)])
def test_paged_attention_matches_the_torch_reference(dtype, plan, h, kvh, lanes):
    torch.manual_seed(1)
    bs, d = 4, 16
    tables, computed, new = PLANS[plan]
    md = AttentionMetadata.from_block_tables(
        block_size=bs, block_tables=tables, num_computed_tokens=computed, num_new_tokens=new
    )
    cuda, ref = _backends(h, kvh, d, lanes)
    caches = [torch.randn(8, bs, kvh, d).to(dtype) for _ in range(2)]
    q = torch.randn(md.num_tokens, h, d).to(dtype)
    cuda.plan(md)
    ref.plan(md)
    out = cuda.forward(q, *caches, md)
    expected = ref.forward(q, *caches, md)
    assert out.dtype == dtype and out.shape == q.shape
    torch.testing.assert_close(out.float(), expected.float(), atol=TOLERANCE[dtype], rtol=0)


def test_paged_attention_takes_strided_q_without_a_copy():
    torch.manual_seed(2)
    tables, computed, new = PLANS["mixed"]
    md = AttentionMetadata.from_block_tables(
        block_size=4, block_tables=tables, num_computed_tokens=computed, num_new_tokens=new
    )
    cuda, ref = _backends(4, 2, 8)
    caches = [torch.randn(8, 4, 2, 8) for _ in range(2)]
    qkv = torch.randn(md.num_tokens, 8, 8)  # q = heads 0..3 of a fused projection
    q = qkv[:, :4]
    torch.testing.assert_close(
        cuda.forward(q, *caches, md), ref.forward(q, *caches, md), atol=2e-5, rtol=0
    )


def test_bad_inputs_raise_typed_errors():
    cuda, _ = _backends(4, 2, 8)
    caches = [torch.zeros(4, 4, 2, 8) for _ in range(2)]
    with pytest.raises(CudaKernelInputError, match="shape"):
        cuda.store_kv(torch.zeros(2, 2, 4), torch.zeros(2, 2, 4), *caches, torch.zeros(2).long())
    with pytest.raises(CudaKernelInputError, match="contiguous"):
        cuda.store_kv(
            torch.zeros(1, 2, 8),
            torch.zeros(1, 2, 8),
            caches[0],
            torch.zeros(4, 2, 4, 8).transpose(1, 2),
            torch.zeros(1).long(),
        )
    with pytest.raises(ValueError, match="num_lanes"):  # the C++ check, as InvalidArgumentError
        CudaAttentionBackend(
            num_heads=4, num_kv_heads=2, head_dim=8, scale=1.0, emulate=True, num_lanes=0
        ).store_kv(torch.zeros(1, 2, 8), torch.zeros(1, 2, 8), *caches, torch.zeros(1).long())


# ---------------------------------------------------------------------------------------------
# Sampling: emulated kernel vs paste.engine.sampler.


PROBS = [0.3, 0.1, 0.4, 0.2]  # test_sampler.py's handcrafted distribution
LOGITS = torch.tensor([math.log(p) for p in PROBS])


def _sample(logits: torch.Tensor, rows: list[tuple[float, int, float, int]], offsets, lanes=4):
    """Every row of `rows` (temperature, top_k, top_p, seed) at each offset: [offsets, rows]."""
    m, n = len(rows), len(offsets)
    t, k, p, s = (torch.tensor([r[i] for r in rows] * n) for i in range(4))
    return sample_tokens(
        logits.repeat(m * n, 1) if logits.dim() == 1 else logits.repeat(n, 1),
        t.float(),
        k.int(),
        p.float(),
        s.long(),
        torch.tensor(offsets).repeat_interleave(m),
        emulate=True,
        num_lanes=lanes,
    ).view(n, m)


@pytest.mark.parametrize(
    ("top_k", "top_p"),
    [(0, 1.0), (0, 0.35), (0, 0.65), (0, 0.85), (0, 0.95), (2, 1.0), (3, 0.65), (2, 0.5), (1, 1.0)],
)
def test_sampling_keeps_exactly_the_reference_set(top_k, top_p):
    masked = apply_top_k_top_p(LOGITS[None], torch.tensor([top_k]), torch.tensor([top_p]))[0]
    kept = set(torch.nonzero(torch.isfinite(masked)).flatten().tolist())
    drawn = set(_sample(LOGITS, [(1.0, top_k, top_p, 7)], list(range(200)))[:, 0].tolist())
    assert drawn == kept


def test_sampling_frequencies_follow_the_probabilities():
    draws = _sample(LOGITS, [(1.0, 0, 1.0, 3)], list(range(4000)), lanes=1)[:, 0]
    counts = torch.bincount(draws, minlength=4).double() / 4000
    expected = torch.tensor(PROBS, dtype=torch.float64)
    sigma = (expected * (1 - expected) / 4000).sqrt()
    assert torch.all((counts - expected).abs() < 5 * sigma), counts


def test_greedy_rows_take_the_first_argmax():
    logits = torch.tensor([[0.1, 2.0, 2.0, -1.0], [5.0, 1.0, 5.0, 0.0]])
    rows = [(0.0, 0, 1.0, 1), (0.8, 1, 1.0, 2)]  # temperature 0; top_k 1
    assert _sample(logits, rows, [0])[0].tolist() == [1, 0]


def test_seeded_rows_depend_only_on_seed_offset_and_logits():
    torch.manual_seed(3)
    logits = torch.randn(3, 32)
    rows = [(1.0, 0, 1.0, 11), (0.7, 8, 0.9, 12), (1.2, 0, 0.8, 13)]
    batch = _sample(logits, rows, list(range(20)))
    alone = _sample(logits[1], [rows[1]], list(range(20)), lanes=3)
    assert torch.equal(batch[:, 1], alone[:, 0])
    assert not torch.equal(
        batch[:, 0], _sample(logits[0], [(1.0, 0, 1.0, 99)], list(range(20)))[:, 0]
    )


# ---------------------------------------------------------------------------------------------
# On a GPU with a CUDA wheel: the real kernels against the same references.


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_kernels_available("cuda"), reason="needs a CUDA wheel and a GPU")
@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_kernels_match_the_torch_reference(dtype):
    torch.manual_seed(4)
    tables, computed, new = PLANS["mixed"]
    md = AttentionMetadata.from_block_tables(
        block_size=4,
        block_tables=tables,
        num_computed_tokens=computed,
        num_new_tokens=new,
        device="cuda",
    )
    kw = dict(num_heads=4, num_kv_heads=2, head_dim=64, scale=0.125)
    gpu, ref = CudaAttentionBackend(**kw, device="cuda"), TorchAttentionBackend(**kw)
    caches = [torch.randn(8, 4, 2, 64, device="cuda").to(dtype) for _ in range(2)]
    ref_caches = [c.clone() for c in caches]
    k, v = (torch.randn(md.num_tokens, 2, 64, device="cuda") for _ in range(2))
    gpu.store_kv(k, v, *caches, md.slot_mapping)
    ref.store_kv(k, v, *ref_caches, md.slot_mapping)
    assert torch.equal(caches[0], ref_caches[0]) and torch.equal(caches[1], ref_caches[1])
    q = torch.randn(md.num_tokens, 4, 64, device="cuda").to(dtype)
    torch.testing.assert_close(
        gpu.forward(q, *caches, md).float(),
        ref.forward(q, *caches, md).float(),
        atol=TOLERANCE[dtype],
        rtol=0,
    )
    logits = torch.randn(3, 1000, device="cuda")
    ones = torch.ones(3, device="cuda")
    tokens = sample_tokens(logits, ones * 0, ones.int(), ones, ones.long(), ones.long())
    assert torch.equal(tokens, logits.argmax(dim=-1))
