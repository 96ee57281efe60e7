"""FlashInfer backend against the torch reference on a CUDA GPU (skipped without one)."""

from __future__ import annotations

import pytest
import torch

from paste.engine.attention import create_attention_backend
from paste.engine.models.metadata import AttentionMetadata

pytestmark = pytest.mark.gpu

H, KVH, D, BS = 6, 2, 64, 16


def _require_gpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    pytest.importorskip("flashinfer")


@pytest.mark.parametrize(
    ("computed", "new"),
    [([40, 0, 17], [3, 21, 1]), ([5, 33, 70], [1, 1, 1])],  # mixed prefill, decode-only
    ids=["mixed", "decode"],
)
def test_flashinfer_matches_torch_reference(computed: list[int], new: list[int]) -> None:
    _require_gpu()
    torch.manual_seed(0)
    kw = dict(device="cuda", dtype=torch.float16, num_heads=H, num_kv_heads=KVH, head_dim=D)
    fi, ref = create_attention_backend("flashinfer", **kw), create_attention_backend("torch", **kw)
    lens = [c + n for c, n in zip(computed, new, strict=True)]
    tables, next_block = [], 20
    for n in lens:  # descending, interleaved-looking block ids
        count = (n + BS - 1) // BS
        tables.append(list(range(next_block, next_block - count, -1)))
        next_block -= count
    md = AttentionMetadata.from_block_tables(
        block_size=BS,
        block_tables=tables,
        num_computed_tokens=computed,
        num_new_tokens=new,
        device="cuda",
    )
    caches = torch.randn(2, 21, BS, KVH, D, device="cuda", dtype=torch.float16)
    t = md.num_tokens
    q = torch.randn(t, H, D, device="cuda", dtype=torch.float16)
    k = torch.randn(t, KVH, D, device="cuda", dtype=torch.float16)
    v = torch.randn(t, KVH, D, device="cuda", dtype=torch.float16)
    fi.plan(md)
    fi.store_kv(k, v, caches[0], caches[1], md.slot_mapping)
    out = fi.forward(q, caches[0], caches[1], md)
    expected = ref.forward(q, caches[0], caches[1], md)
    torch.testing.assert_close(out, expected, rtol=2e-3, atol=2e-3)
