"""The torch reference backend against dense causal attention, and its slot-mapped KV store."""

from __future__ import annotations

import pytest
import torch

from paste.engine.attention import create_attention_backend
from paste.engine.models.metadata import AttentionMetadata

H, KVH, D, BS, NUM_BLOCKS = 4, 2, 8, 4, 10


def _backend() -> object:
    return create_attention_backend(
        "torch", device="cpu", dtype=torch.float32, num_heads=H, num_kv_heads=KVH, head_dim=D
    )


def _dense_causal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Independent check: SDPA over the whole sequence, GQA by repeating kv heads."""
    k = k.repeat_interleave(H // KVH, dim=1)
    v = v.repeat_interleave(H // KVH, dim=1)
    out = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), is_causal=True
    )
    return out.transpose(0, 1)


def test_store_kv_writes_exact_slots_and_skips_minus_one() -> None:
    backend = _backend()
    k_cache = torch.zeros(NUM_BLOCKS, BS, KVH, D)
    v_cache = torch.zeros(NUM_BLOCKS, BS, KVH, D)
    k = torch.arange(3 * KVH * D, dtype=torch.float32).reshape(3, KVH, D) + 1
    v = -k
    backend.store_kv(k, v, k_cache, v_cache, torch.tensor([9, -1, 30]))
    assert torch.equal(k_cache[2, 1], k[0]) and torch.equal(v_cache[2, 1], v[0])
    assert torch.equal(k_cache[7, 2], k[2]) and torch.equal(v_cache[7, 2], v[2])
    assert int((k_cache != 0).any(dim=(2, 3)).sum()) == 2  # nothing else was written


@pytest.mark.parametrize("chunks", [[11], [5, 6], [3, 4, 1, 1, 1, 1]])
def test_chunked_prefill_and_decode_match_dense_attention(chunks: list[int]) -> None:
    """Any split of an 11-token sequence into chunks gives the dense causal result."""
    torch.manual_seed(1)
    total = sum(chunks)
    q, k, v = torch.randn(total, H, D), torch.randn(total, KVH, D), torch.randn(total, KVH, D)
    expected = _dense_causal(q, k, v)
    backend = _backend()
    k_cache = torch.zeros(NUM_BLOCKS, BS, KVH, D)
    v_cache = torch.zeros(NUM_BLOCKS, BS, KVH, D)
    table = [6, 1, 8]  # scattered, not ascending
    done = 0
    for size in chunks:
        num_blocks = (done + size + BS - 1) // BS
        md = AttentionMetadata.from_block_tables(
            block_size=BS,
            block_tables=[table[:num_blocks]],
            num_computed_tokens=[done],
            num_new_tokens=[size],
        )
        sl = slice(done, done + size)
        backend.store_kv(k[sl], v[sl], k_cache, v_cache, md.slot_mapping)
        out = backend.forward(q[sl], k_cache, v_cache, md)
        torch.testing.assert_close(out, expected[sl], rtol=1e-5, atol=1e-5)
        done += size


def test_mixed_batch_matches_each_sequence_alone() -> None:
    """Sequence A decodes 1 token over 6 cached, B prefills 5 fresh tokens, in one batch."""
    torch.manual_seed(2)
    qa, ka, va = torch.randn(7, H, D), torch.randn(7, KVH, D), torch.randn(7, KVH, D)
    qb, kb, vb = torch.randn(5, H, D), torch.randn(5, KVH, D), torch.randn(5, KVH, D)
    backend = _backend()
    k_cache = torch.zeros(NUM_BLOCKS, BS, KVH, D)
    v_cache = torch.zeros(NUM_BLOCKS, BS, KVH, D)
    first = AttentionMetadata.from_block_tables(
        block_size=BS, block_tables=[[4, 0]], num_computed_tokens=[0], num_new_tokens=[6]
    )
    backend.store_kv(ka[:6], va[:6], k_cache, v_cache, first.slot_mapping)
    md = AttentionMetadata.from_block_tables(
        block_size=BS,
        block_tables=[[4, 0], [9, 3]],
        num_computed_tokens=[6, 0],
        num_new_tokens=[1, 5],
    )
    assert md.slot_mapping.tolist() == [2, 36, 37, 38, 39, 12]
    assert md.logits_indices.tolist() == [0, 5]
    backend.store_kv(
        torch.cat([ka[6:], kb]), torch.cat([va[6:], vb]), k_cache, v_cache, md.slot_mapping
    )
    out = backend.forward(torch.cat([qa[6:], qb]), k_cache, v_cache, md)
    torch.testing.assert_close(out[0], _dense_causal(qa, ka, va)[6], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[1:], _dense_causal(qb, kb, vb), rtol=1e-5, atol=1e-5)
