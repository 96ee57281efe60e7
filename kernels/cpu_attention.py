"""The "cpu" attention backend: the C++ paged-attention kernel of paste._core (csrc/attention).

Same contract as the torch reference (kernels/torch_ref.py): store_kv writes K/V at
slot_mapping (skipping -1), forward runs causal attention of the flat batch through the CSR
block table. Tensors cross into C++ as addresses (data_ptr) with sizes and element strides, so
this module is where they are checked, before any address is passed:

    q, out        [T, num_heads, head_dim]         CPU, float32 or bfloat16, head_dim contiguous
    k, v          [T, num_kv_heads, head_dim]      CPU, any float dtype (cast to the cache's)
    k/v_cache     [num_blocks, block_size, num_kv_heads, head_dim], contiguous, q's dtype
    plan arrays   AttentionMetadata's CPU tensors (int32; slot_mapping int64)

Bad input raises CpuAttentionInputError (an InvalidArgumentError). The kernel checks every
slot and block id against the cache itself, so a bad plan raises InvalidArgumentError too and
never reads or writes outside the cache. Strided views (q sliced from a fused QKV projection)
are passed as they are, without a copy. The checked plan / store_kv / forward flow is
NativeAttentionBackend's (kernels/backend_common.py); this module adds the CPU's checks.

Threads: the kernel runs on its own persistent pool of `num_threads` (default
PASTE_NUM_THREADS, see paste.envs), not on OpenMP; the GIL is released while it runs.
"""

from __future__ import annotations

import weakref

import torch
from paste.kernels.backend_common import NativeAttentionBackend, token_arg

from paste import envs
from paste.errors import InvalidArgumentError

_DTYPES = {torch.float32: "float32", torch.bfloat16: "bfloat16"}


class CpuAttentionInputError(InvalidArgumentError):
    """A tensor the CPU kernel cannot take: wrong device, dtype, shape or layout."""


class CpuAttentionBackend(NativeAttentionBackend):
    """Backend "cpu": a handle to paste._core.PagedAttention plus the checks listed above.

    Used by one engine thread (see NativeAttentionBackend); each layer's cache pair is checked
    once and remembered.
    """

    name = "cpu"
    input_error = CpuAttentionInputError

    def __init__(
        self,
        *,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
        scale: float,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        num_threads: int | None = None,
    ) -> None:
        from paste import _core  # the native core; imported when the backend is created

        if device is not None:
            self._check(
                torch.device(device).type == "cpu", f"the cpu backend cannot run on {device}"
            )
        self._check(
            dtype is None or dtype in _DTYPES, f"dtype must be float32 or bfloat16, got {dtype}"
        )
        super().__init__(
            num_heads=num_heads, num_kv_heads=num_kv_heads, head_dim=head_dim, scale=scale
        )
        self._core = _core.PagedAttention(
            num_heads,
            num_kv_heads,
            head_dim,
            self.scale,
            envs.num_threads() if num_threads is None else num_threads,
        )
        # id(k_cache) -> (weak k_cache, weak v_cache, kernel argument): each layer's cache pair
        # is checked once, not on every call (caches are never resized in place).
        self._checked_caches: dict[int, tuple[weakref.ref, weakref.ref, tuple[int, ...]]] = {}

    @property
    def num_threads(self) -> int:
        """Threads the kernel uses, the caller included (its pool has num_threads - 1)."""
        return int(self._core.num_threads)

    def _check_device(self, name: str, t: torch.Tensor) -> None:
        self._check(t.is_cpu, f"{name} must be on the CPU, got {t.device}")

    def _check_float(self, name: str, t: torch.Tensor, shape: tuple[int, ...]) -> None:
        self._check_tensor(name, t)
        self._check(t.dtype in _DTYPES, f"{name} must be float32 or bfloat16, got {t.dtype}")
        self._check_shape(name, t, shape)

    def _cache_arg(self, k_cache: torch.Tensor, v_cache: torch.Tensor) -> tuple[int, ...]:
        hit = self._checked_caches.get(id(k_cache))
        if hit is not None and hit[0]() is k_cache and hit[1]() is v_cache:
            return hit[2]
        arg = super()._cache_arg(k_cache, v_cache)
        if len(self._checked_caches) >= 1024:
            self._checked_caches.clear()
        self._checked_caches[id(k_cache)] = (weakref.ref(k_cache), weakref.ref(v_cache), arg)
        return arg

    def _check_cache_planes(self, k_cache: torch.Tensor, v_cache: torch.Tensor) -> None:
        self._check(
            isinstance(k_cache, torch.Tensor) and k_cache.dim() == 4,
            "k_cache must be a 4-D tensor [num_blocks, block_size, num_kv_heads, head_dim]",
        )
        shape = (int(k_cache.shape[0]), int(k_cache.shape[1]), self.num_kv_heads, self.head_dim)
        self._check_float("k_cache", k_cache, shape)
        self._check_float("v_cache", v_cache, shape)

    def _check_kv(
        self, k: torch.Tensor, v: torch.Tensor, slot_mapping: torch.Tensor, num_tokens: int
    ) -> None:
        shape = (num_tokens, self.num_kv_heads, self.head_dim)
        for name, t in (("k", k), ("v", v)):
            self._check(
                isinstance(t, torch.Tensor) and t.is_cpu and t.is_floating_point(),
                f"{name} must be a float tensor on the CPU",
            )
            self._check_shape(name, t, shape)
        self._check(
            isinstance(slot_mapping, torch.Tensor)
            and slot_mapping.is_cpu
            and slot_mapping.shape == (num_tokens,)
            and not slot_mapping.is_floating_point(),
            f"slot_mapping must be an integer CPU tensor of shape [{num_tokens}]",
        )

    def _run_store_kv(
        self, k_cache: torch.Tensor, num_tokens: int, args: tuple[object, ...]
    ) -> None:
        self._core.store_kv(_DTYPES[k_cache.dtype], num_tokens, *args)

    def _check_q(self, q: torch.Tensor, shape: tuple[int, ...], cache_dtype: torch.dtype) -> None:
        self._check_float("q", q, shape)
        self._check(
            q.dtype == cache_dtype,
            f"q ({q.dtype}) and the KV cache ({cache_dtype}) must have the same dtype",
        )

    def _run_attention(
        self, num_tokens: int, q: torch.Tensor, cache: tuple[int, ...], out: torch.Tensor
    ) -> None:
        num_seqs, *addresses = self._plan_arg
        num_indices = int(self._plan_arrays[3].shape[0])  # kv_indices
        self._core.forward(
            _DTYPES[q.dtype],
            num_seqs,
            num_tokens,
            num_indices,
            *addresses,
            token_arg(q),
            cache,
            token_arg(out),
        )
