"""FlashInfer backend: plan/run wrappers over FlashInfer's paged-KV attention (CUDA only).

paste's cache planes are [num_blocks, block_size, num_kv_heads, head_dim], FlashInfer's "NHD"
paged layout, and the plan already carries FlashInfer's CSR page table (kv_indptr,
kv_indices, kv_last_page_len), so no conversion happens. Per step, plan() picks:

    every sequence has one query token -> BatchDecodeWithPagedKVCacheWrapper
    otherwise (prefill / chunked prefill / mixed) -> BatchPrefillWithPagedKVCacheWrapper,
        causal=True (FlashInfer aligns the causal mask to the end of the KV, so query i of a
        chunk sees the cached prefix plus chunk tokens 0..i)

and forward() runs the planned wrapper for each layer (all layers share one plan). The KV
store uses the slot mapping (an index_copy), the same code as the torch reference.
flashinfer is imported in the constructor, never at module import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from paste.kernels.backend_common import AttentionBackendBase
from paste.kernels.torch_ref import store_kv_by_slot

from paste.errors import InternalError

if TYPE_CHECKING:
    from paste.engine.models.metadata import AttentionMetadata

WORKSPACE_BYTES = 128 << 20


class FlashInferAttentionBackend(AttentionBackendBase):
    """The "flashinfer" backend (see module docstring)."""

    name = "flashinfer"

    def __init__(
        self,
        *,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
        scale: float,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        import flashinfer

        super().__init__(
            num_heads=num_heads, num_kv_heads=num_kv_heads, head_dim=head_dim, scale=scale
        )
        self.dtype = dtype
        self._workspace = torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device=device)
        self._prefill = flashinfer.BatchPrefillWithPagedKVCacheWrapper(self._workspace, "NHD")
        # Tensor-core decode supports every GQA group size (SmolLM2 uses 3).
        self._decode = flashinfer.BatchDecodeWithPagedKVCacheWrapper(
            self._workspace, "NHD", use_tensor_cores=True
        )
        self._active: Any = None

    def plan(self, metadata: AttentionMetadata) -> None:
        """Plan this step's wrapper from the CSR page table; call once before the layers."""
        # The CSR page table and head shape, the leading arguments of both wrappers' plan().
        paged_kv = (
            metadata.kv_indptr,
            metadata.kv_indices,
            metadata.kv_last_page_len,
            self.num_heads,
            self.num_kv_heads,
            self.head_dim,
            metadata.block_size,
        )
        options: dict[str, Any] = {
            "pos_encoding_mode": "NONE",
            "q_data_type": self.dtype,
            "kv_data_type": self.dtype,
            "sm_scale": self.scale,
        }
        if metadata.is_decode_only:
            self._decode.plan(*paged_kv, **options)
            self._active = self._decode
        else:
            self._prefill.plan(metadata.query_start_loc, *paged_kv, causal=True, **options)
            self._active = self._prefill

    store_kv = staticmethod(store_kv_by_slot)  # the torch reference's KV store

    def forward(
        self,
        q: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        metadata: AttentionMetadata,
    ) -> torch.Tensor:
        if self._active is None:
            raise InternalError("FlashInferAttentionBackend.forward called before plan()")
        return self._active.run(q, (k_cache, v_cache))  # type: ignore[no-any-return]
