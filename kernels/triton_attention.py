"""Triton backend: a slot-mapped KV-store kernel and a paged causal-attention kernel.

store kernel, grid (T,): program t copies row k[t] / v[t] (num_kv_heads * head_dim values)
to flat slot slot_mapping[t] of each cache plane; slot -1 copies nothing.

attention kernel, grid (T, num_heads): program (t, h) walks the pages of token t's sequence
through the CSR block table, one page (BLOCK_SIZE keys) per iteration, keeping an online
softmax (running max m, running denominator l, running weighted sum acc):

    for page p < ceil(kv_len / BLOCK_SIZE):       kv_len = tokens token t may see (causal)
        block = kv_indices[kv_indptr[seq] + p]
        s     = q . K[block, :, kv_head] * scale   (keys >= kv_len masked to -inf)
        m'    = max(m, max(s));  l = l*e^(m-m') + sum e^(s-m');  acc = acc*e^(m-m') + e^(s-m') V
    out = acc / l

Simple rather than fast (no tiling over query tokens, K/V reloaded per query head), and
exercised on CPU under TRITON_INTERPRET=1 against the torch reference. block_size must be a
power of two (Triton block shapes are powers of two); head_dim is padded to one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl
from paste.kernels.backend_common import AttentionBackendBase

from paste.errors import InvalidArgumentError

if TYPE_CHECKING:
    from paste.engine.models.metadata import AttentionMetadata


@triton.jit
def _store_kv_kernel(
    k_ptr, v_ptr, k_cache_ptr, v_cache_ptr, slot_ptr, row_size, BLOCK: tl.constexpr
):
    t = tl.program_id(0)
    slot = tl.load(slot_ptr + t)
    if slot >= 0:
        offs = tl.arange(0, BLOCK)
        mask = offs < row_size
        src = t.to(tl.int64) * row_size + offs
        dst = slot.to(tl.int64) * row_size + offs
        tl.store(k_cache_ptr + dst, tl.load(k_ptr + src, mask=mask), mask=mask)
        tl.store(v_cache_ptr + dst, tl.load(v_ptr + src, mask=mask), mask=mask)


@triton.jit
def _paged_attention_kernel(
    q_ptr,
    k_cache_ptr,
    v_cache_ptr,
    out_ptr,
    token_seq_ptr,
    token_kv_len_ptr,
    kv_indptr_ptr,
    kv_indices_ptr,
    scale,
    stride_qt,
    stride_qh,
    stride_ot,
    stride_oh,
    stride_cb,
    stride_cs,
    stride_ch,
    GROUP: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
):
    t = tl.program_id(0)
    h = tl.program_id(1)
    kv_head = h // GROUP
    seq = tl.load(token_seq_ptr + t)
    kv_len = tl.load(token_kv_len_ptr + t)
    page_start = tl.load(kv_indptr_ptr + seq)
    d = tl.arange(0, BLOCK_D)
    d_mask = d < HEAD_DIM
    q = tl.load(q_ptr + t * stride_qt + h * stride_qh + d, mask=d_mask, other=0.0)
    q = q.to(tl.float32)
    m_i = tl.full([], float("-inf"), tl.float32)
    l_i = tl.full([], 0.0, tl.float32)
    acc = tl.zeros([BLOCK_D], dtype=tl.float32)
    offs = tl.arange(0, BLOCK_SIZE)
    num_pages = (kv_len + BLOCK_SIZE - 1) // BLOCK_SIZE
    for p in range(0, num_pages):
        block = tl.load(kv_indices_ptr + page_start + p).to(tl.int64)
        valid = (p * BLOCK_SIZE + offs) < kv_len
        base = block * stride_cb + offs[:, None] * stride_cs + kv_head * stride_ch + d[None, :]
        mask = valid[:, None] & d_mask[None, :]
        k = tl.load(k_cache_ptr + base, mask=mask, other=0.0).to(tl.float32)
        scores = tl.sum(k * q[None, :], axis=1) * scale
        scores = tl.where(valid, scores, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(scores, axis=0))
        alpha = tl.exp(m_i - m_new)
        weights = tl.exp(scores - m_new)
        v = tl.load(v_cache_ptr + base, mask=mask, other=0.0).to(tl.float32)
        l_i = l_i * alpha + tl.sum(weights, axis=0)
        acc = acc * alpha + tl.sum(weights[:, None] * v, axis=0)
        m_i = m_new
    out = acc / l_i
    tl.store(
        out_ptr + t * stride_ot + h * stride_oh + d,
        out.to(out_ptr.dtype.element_ty),
        mask=d_mask,
    )


class TritonAttentionBackend(AttentionBackendBase):
    """The "triton" backend (see module docstring). Inputs must be contiguous."""

    name = "triton"

    def plan(self, metadata: AttentionMetadata) -> None:
        """Check the one thing the kernels cannot handle: a non-power-of-two block size."""
        size = metadata.block_size
        if size & (size - 1):
            raise InvalidArgumentError(
                f"triton backend needs a power-of-two block_size, got {size}"
            )

    def store_kv(
        self,
        k: torch.Tensor,
        v: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        slot_mapping: torch.Tensor,
    ) -> None:
        num_tokens = k.shape[0]
        if num_tokens == 0:
            return
        row_size = self.num_kv_heads * self.head_dim
        _store_kv_kernel[(num_tokens,)](
            k.contiguous(),
            v.contiguous(),
            k_cache,
            v_cache,
            slot_mapping,
            row_size,
            BLOCK=triton.next_power_of_2(row_size),
        )

    def forward(
        self,
        q: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        metadata: AttentionMetadata,
    ) -> torch.Tensor:
        q = q.contiguous()
        out = torch.empty_like(q)
        num_tokens = q.shape[0]
        if num_tokens == 0:
            return out
        _paged_attention_kernel[(num_tokens, self.num_heads)](
            q,
            k_cache,
            v_cache,
            out,
            metadata.token_seq_ids,
            metadata.token_kv_lens,
            metadata.kv_indptr,
            metadata.kv_indices,
            self.scale,
            q.stride(0),
            q.stride(1),
            out.stride(0),
            out.stride(1),
            k_cache.stride(0),
            k_cache.stride(1),
            k_cache.stride(2),
            GROUP=self.num_heads // self.num_kv_heads,
            HEAD_DIM=self.head_dim,
            BLOCK_D=triton.next_power_of_2(self.head_dim),
            BLOCK_SIZE=k_cache.shape[1],
        )
        return out
