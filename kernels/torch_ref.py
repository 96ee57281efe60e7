"""Reference attention backend in plain torch: slot-mapped KV store + paged causal attention.

Readable over fast: one loop iteration per sequence gathers that sequence's blocks through the
CSR block table (kv_indptr / kv_indices), trims them to seq_len keys, and runs causal
attention whose mask is shifted by the tokens already cached:

    keys:     0 1 2 3 4 5 6        (num_computed_tokens = 5, 2 query tokens)
    query 0:  x x x x x x .        sits at position 5
    query 1:  x x x x x x x        sits at position 6

Softmax runs in float32; GQA maps query head h to kv head h // (num_heads / num_kv_heads),
as Hugging Face's repeat_kv does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from paste.kernels.backend_common import AttentionBackendBase

if TYPE_CHECKING:
    from paste.engine.models.metadata import AttentionMetadata


def store_kv_by_slot(
    k: torch.Tensor,
    v: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slot_mapping: torch.Tensor,
) -> None:
    """k_cache.flat[slot_mapping[t]] = k[t] (same for v) for every t whose slot is >= 0."""
    num_kv_heads, head_dim = k_cache.shape[-2], k_cache.shape[-1]
    keep = slot_mapping >= 0
    slots = slot_mapping[keep].long()
    k_cache.view(-1, num_kv_heads, head_dim).index_copy_(0, slots, k[keep].to(k_cache.dtype))
    v_cache.view(-1, num_kv_heads, head_dim).index_copy_(0, slots, v[keep].to(v_cache.dtype))


def causal_attention_with_context(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_cached: int, scale: float
) -> torch.Tensor:
    """Attention of q [L, H, D] over k/v [num_cached + L, KVH, D]; query i sees keys
    0..num_cached + i. Returns [L, H, D] in q's dtype."""
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1).float()
    v = v.repeat_interleave(group, dim=1).float()
    scores = torch.einsum("qhd,khd->hqk", q.float(), k) * scale
    query_pos = torch.arange(q.shape[0], device=q.device).unsqueeze(1) + num_cached
    key_pos = torch.arange(k.shape[0], device=q.device).unsqueeze(0)
    scores = scores.masked_fill(key_pos > query_pos, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return torch.einsum("hqk,khd->qhd", probs, v).to(q.dtype)


class TorchAttentionBackend(AttentionBackendBase):
    """The "torch" backend: store_kv_by_slot + causal_attention_with_context per sequence."""

    name = "torch"

    def plan(self, metadata: AttentionMetadata) -> None:
        """Nothing to precompute: forward reads the host copies of the plan."""

    store_kv = staticmethod(store_kv_by_slot)  # the reference KV store, as the method

    def forward(
        self,
        q: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        metadata: AttentionMetadata,
    ) -> torch.Tensor:
        out = torch.empty_like(q)
        qsl, lens, indptr = (
            metadata.query_start_loc_cpu,
            metadata.seq_lens_cpu,
            metadata.kv_indptr_cpu,
        )
        for s in range(metadata.num_seqs):
            start, end = int(qsl[s]), int(qsl[s + 1])
            if end == start:
                continue
            seq_len = int(lens[s])
            blocks = metadata.kv_indices[int(indptr[s]) : int(indptr[s + 1])].long()
            k = k_cache[blocks].reshape(-1, self.num_kv_heads, self.head_dim)[:seq_len]
            v = v_cache[blocks].reshape(-1, self.num_kv_heads, self.head_dim)[:seq_len]
            out[start:end] = causal_attention_with_context(
                q[start:end], k, v, seq_len - (end - start), self.scale
            )
        return out
