"""What the attention backends share: their head shape, and the checked flow of the native ones.

AttentionBackendBase holds what every backend is built from (head counts, head_dim, scale).

NativeAttentionBackend is the base of the backends whose kernels are paste's own C++ ("cpu",
"cuda"). Their tensors cross into C++ as addresses with sizes and element strides, so every
tensor is checked before its address is passed; a failed check raises the subclass's
`input_error` (an InvalidArgumentError). The flow is the same for both:

    plan(metadata)       metadata's CSR arrays -> int32 contiguous copies, kept for the step
    store_kv(k, v, ...)  check caches, k, v, slot_mapping -> k/v cast to the cache dtype -> kernel
    forward(q, ...)      check caches, plan if metadata is new, check q -> new out -> kernel

A subclass says where its tensors live (_check_device), what else it checks and with which
messages (_check_cache_planes, _check_kv, _check_q), and how it calls its kernels
(_run_store_kv, _run_attention).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import torch

from paste.errors import InvalidArgumentError

if TYPE_CHECKING:
    from paste.engine.models.metadata import AttentionMetadata

# The plan arrays the native kernels read, in the order they are passed.
PLAN_ARRAYS = ("query_start_loc", "seq_lens", "kv_indptr", "kv_indices")


def rows(t: torch.Tensor) -> torch.Tensor:
    """t itself if its last dimension is contiguous (the kernels take any other strides)."""
    return t if t.stride(-1) == 1 or t.shape[-1] == 1 else t.contiguous()


def token_arg(t: torch.Tensor) -> tuple[int, int, int]:
    """A [T, heads, head_dim] tensor as the kernels take it: address, token and head strides."""
    return (t.data_ptr(), t.stride(0), t.stride(1))


class AttentionBackendBase:
    """One model's attention shape; one instance serves every layer of the model.

    device and dtype are accepted for the registry's factory call; a subclass that needs
    them checks or keeps them itself.
    """

    name: str

    def __init__(
        self,
        *,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
        scale: float,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.scale = float(scale)


class NativeAttentionBackend(AttentionBackendBase, ABC):
    """The checked plan / store_kv / forward flow of the native backends (module docstring).

    Used by one engine thread: plan() keeps the step's int32 plan arrays (and their addresses
    in _plan_arg = (num_seqs, *addresses)) until the next plan(); forward() with other
    metadata plans it first.
    """

    input_error: type[InvalidArgumentError]
    _planned: AttentionMetadata | None = None
    _plan_arrays: tuple[torch.Tensor, ...] = ()
    _plan_arg: tuple[int, ...] = ()

    def _check(self, cond: bool, message: str) -> None:
        if not cond:
            raise self.input_error(message)

    @abstractmethod
    def _check_device(self, name: str, t: torch.Tensor) -> None:
        """Raises input_error unless t is on a device this backend's kernels can use."""

    def _check_tensor(self, name: str, t: object, shape: tuple[int, ...] | None = None) -> None:
        """t is a tensor on this backend's device (with `shape`, if one is given)."""
        if not isinstance(t, torch.Tensor):
            raise self.input_error(f"{name} must be a torch.Tensor")
        self._check_device(name, t)
        if shape is not None:
            self._check_shape(name, t, shape)

    def _check_shape(self, name: str, t: torch.Tensor, shape: tuple[int, ...]) -> None:
        self._check(
            tuple(t.shape) == shape, f"{name} must have shape {list(shape)}, got {list(t.shape)}"
        )

    def plan(self, metadata: AttentionMetadata) -> None:
        """Checks the plan's arrays once per step and keeps int32 copies for this step's layers."""
        arrays = []
        for name in PLAN_ARRAYS:
            t = getattr(metadata, name)
            self._check_tensor(f"metadata.{name}", t)
            self._check(t.dim() == 1, f"metadata.{name} must be 1-D")
            arrays.append(t.to(torch.int32).contiguous())
        n = int(arrays[1].shape[0])
        self._check(
            arrays[0].shape[0] == n + 1 and arrays[2].shape[0] == n + 1,
            "metadata.query_start_loc and kv_indptr must have num_seqs + 1 entries",
        )
        self._plan_arrays = tuple(arrays)
        self._plan_arg = (n, *(a.data_ptr() for a in arrays))
        self._planned = metadata

    @abstractmethod
    def _check_cache_planes(self, k_cache: torch.Tensor, v_cache: torch.Tensor) -> None:
        """Each plane on its own: a tensor of [num_blocks, block_size, num_kv_heads, head_dim]
        on this backend's device, of a dtype the kernels take."""

    def _cache_arg(self, k_cache: torch.Tensor, v_cache: torch.Tensor) -> tuple[int, ...]:
        """Checks a layer's cache pair; returns the kernels' cache argument."""
        self._check_cache_planes(k_cache, v_cache)
        self._check(v_cache.dtype == k_cache.dtype, "k_cache and v_cache dtypes differ")
        self._check(
            k_cache.is_contiguous() and v_cache.is_contiguous(),
            "k_cache and v_cache must be contiguous (they are written in place)",
        )
        self._check(
            k_cache.device == v_cache.device, "k_cache and v_cache are on different devices"
        )
        # (k address, v address, num_blocks, block_size, block / slot / head strides)
        return (k_cache.data_ptr(), v_cache.data_ptr(), *k_cache.shape[:2], *k_cache.stride()[:3])

    @abstractmethod
    def _check_kv(
        self, k: torch.Tensor, v: torch.Tensor, slot_mapping: torch.Tensor, num_tokens: int
    ) -> None:
        """k, v [num_tokens, num_kv_heads, head_dim]; slot_mapping [num_tokens] of integers."""

    @abstractmethod
    def _run_store_kv(
        self, k_cache: torch.Tensor, num_tokens: int, args: tuple[object, ...]
    ) -> None:
        """Calls the KV-store kernel on checked inputs; args = (token_arg(k), token_arg(v),
        slots address, cache argument), with k and v in the cache dtype and slots int64."""

    def store_kv(
        self,
        k: torch.Tensor,
        v: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        slot_mapping: torch.Tensor,
    ) -> None:
        """k_cache.flat[slot_mapping[t]] = k[t] (same for v) for every t whose slot is >= 0."""
        cache = self._cache_arg(k_cache, v_cache)
        num_tokens = int(k.shape[0]) if isinstance(k, torch.Tensor) else -1
        self._check_kv(k, v, slot_mapping, num_tokens)
        if num_tokens == 0:
            return
        k, v = rows(k.to(k_cache.dtype)), rows(v.to(k_cache.dtype))
        slots = slot_mapping.to(torch.int64).contiguous()  # k, v, slots live until the call returns
        args = (token_arg(k), token_arg(v), slots.data_ptr(), cache)
        self._run_store_kv(k_cache, num_tokens, args)

    @abstractmethod
    def _check_q(self, q: torch.Tensor, shape: tuple[int, ...], cache_dtype: torch.dtype) -> None:
        """q has `shape` and the cache's dtype."""

    @abstractmethod
    def _run_attention(
        self, num_tokens: int, q: torch.Tensor, cache: tuple[int, ...], out: torch.Tensor
    ) -> None:
        """Calls the attention kernel on checked inputs, with the plan of the last plan()."""

    def forward(
        self,
        q: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        metadata: AttentionMetadata,
    ) -> torch.Tensor:
        """Causal paged attention of q [T, num_heads, head_dim]; returns a new tensor like q."""
        cache = self._cache_arg(k_cache, v_cache)
        if metadata is not self._planned:
            self.plan(metadata)
        num_tokens = metadata.num_tokens
        shape = (num_tokens, self.num_heads, self.head_dim)
        self._check_q(q, shape, k_cache.dtype)
        out = q.new_empty(shape)
        if num_tokens == 0:
            return out
        self._run_attention(num_tokens, rows(q), cache, out)
        return out
