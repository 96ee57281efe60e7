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
are passed as they are, without a copy.

Threads: the kernel runs on its own persistent pool of `num_threads` (default
PASTE_NUM_THREADS, see paste.envs), not on OpenMP; the GIL is released while it runs.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import torch

from paste import envs
from paste.errors import InvalidArgumentError

if TYPE_CHECKING:
    from paste.engine.models.metadata import AttentionMetadata

_DTYPES = {torch.float32: "float32", torch.bfloat16: "bfloat16"}


class CpuAttentionInputError(InvalidArgumentError):
    """A tensor the CPU kernel cannot take: wrong device, dtype, shape or layout."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise CpuAttentionInputError(message)


def _check_cpu_float(name: str, t: torch.Tensor, shape: tuple[int, ...]) -> None:
    _check(isinstance(t, torch.Tensor), f"{name} must be a torch.Tensor")
    _check(t.is_cpu, f"{name} must be on the CPU, got {t.device}")
    _check(t.dtype in _DTYPES, f"{name} must be float32 or bfloat16, got {t.dtype}")
    _check(t.shape == shape, f"{name} must have shape {list(shape)}, got {list(t.shape)}")


def _rows(t: torch.Tensor) -> torch.Tensor:
    """t itself if its last dimension is contiguous (the kernel takes any other strides)."""
    return t if t.stride(-1) == 1 or t.shape[-1] == 1 else t.contiguous()


def _token_arg(t: torch.Tensor) -> tuple[int, int, int]:
    return (t.data_ptr(), t.stride(0), t.stride(1))


def _plan_array(name: str, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    _check(t.is_cpu, f"metadata.{name} must be on the CPU, got {t.device}")
    _check(t.dim() == 1, f"metadata.{name} must be 1-D")
    return t.to(dtype).contiguous()


class CpuAttentionBackend:
    """Backend "cpu": a handle to paste._core.PagedAttention plus the checks listed above.

    One instance serves every layer of a model. Used by one engine thread: plan() keeps the
    step's plan addresses (and the arrays behind them) until the next plan(); forward() with
    other metadata plans it first.
    """

    name = "cpu"

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
            _check(torch.device(device).type == "cpu", f"the cpu backend cannot run on {device}")
        _check(dtype is None or dtype in _DTYPES, f"dtype must be float32 or bfloat16, got {dtype}")
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.scale = float(scale)
        self._core = _core.PagedAttention(
            num_heads,
            num_kv_heads,
            head_dim,
            self.scale,
            envs.num_threads() if num_threads is None else num_threads,
        )
        self._planned: AttentionMetadata | None = None
        self._plan_args: tuple[int, ...] = ()
        self._plan_keepalive: tuple[torch.Tensor, ...] = ()
        # id(k_cache) -> (weak k_cache, weak v_cache, kernel argument): each layer's cache pair
        # is checked once, not on every call (caches are never resized in place).
        self._checked_caches: dict[int, tuple[weakref.ref, weakref.ref, tuple[int, ...]]] = {}

    @property
    def num_threads(self) -> int:
        """Threads the kernel uses, the caller included (its pool has num_threads - 1)."""
        return int(self._core.num_threads)

    def plan(self, metadata: AttentionMetadata) -> None:
        """Checks the plan's arrays once per step and keeps their addresses for forward."""
        qsl = _plan_array("query_start_loc", metadata.query_start_loc, torch.int32)
        lens = _plan_array("seq_lens", metadata.seq_lens, torch.int32)
        indptr = _plan_array("kv_indptr", metadata.kv_indptr, torch.int32)
        indices = _plan_array("kv_indices", metadata.kv_indices, torch.int32)
        n = lens.shape[0]
        _check(
            qsl.shape[0] == n + 1 and indptr.shape[0] == n + 1,
            "metadata.query_start_loc and kv_indptr must have num_seqs + 1 entries",
        )
        self._plan_keepalive = (qsl, lens, indptr, indices)
        self._plan_args = (
            n,
            metadata.num_tokens,
            indices.shape[0],
            qsl.data_ptr(),
            lens.data_ptr(),
            indptr.data_ptr(),
            indices.data_ptr(),
        )
        self._planned = metadata

    def _cache_arg(self, k_cache: torch.Tensor, v_cache: torch.Tensor) -> tuple[int, ...]:
        hit = self._checked_caches.get(id(k_cache))
        if hit is not None and hit[0]() is k_cache and hit[1]() is v_cache:
            return hit[2]
        arg = self._check_caches(k_cache, v_cache)
        if len(self._checked_caches) >= 1024:
            self._checked_caches.clear()
        self._checked_caches[id(k_cache)] = (weakref.ref(k_cache), weakref.ref(v_cache), arg)
        return arg

    def _check_caches(self, k_cache: torch.Tensor, v_cache: torch.Tensor) -> tuple[int, ...]:
        _check(
            isinstance(k_cache, torch.Tensor) and k_cache.dim() == 4,
            "k_cache must be a 4-D tensor [num_blocks, block_size, num_kv_heads, head_dim]",
        )
        num_blocks, block_size = int(k_cache.shape[0]), int(k_cache.shape[1])
        shape = (num_blocks, block_size, self.num_kv_heads, self.head_dim)
        _check_cpu_float("k_cache", k_cache, shape)
        _check_cpu_float("v_cache", v_cache, shape)
        _check(v_cache.dtype == k_cache.dtype, "k_cache and v_cache dtypes differ")
        _check(
            k_cache.is_contiguous() and v_cache.is_contiguous(),
            "k_cache and v_cache must be contiguous (they are written in place)",
        )
        stride = k_cache.stride()
        return (k_cache.data_ptr(), v_cache.data_ptr(), num_blocks, block_size, *stride[:3])

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
        shape = (num_tokens, self.num_kv_heads, self.head_dim)
        for name, t in (("k", k), ("v", v)):
            _check(
                isinstance(t, torch.Tensor) and t.is_cpu and t.is_floating_point(),
                f"{name} must be a float tensor on the CPU",
            )
            _check(t.shape == shape, f"{name} must have shape {list(shape)}, got {list(t.shape)}")
        _check(
            isinstance(slot_mapping, torch.Tensor)
            and slot_mapping.is_cpu
            and slot_mapping.shape == (num_tokens,)
            and not slot_mapping.is_floating_point(),
            f"slot_mapping must be an integer CPU tensor of shape [{num_tokens}]",
        )
        if num_tokens == 0:
            return
        dtype = k_cache.dtype
        k = _rows(k if k.dtype == dtype else k.to(dtype))
        v = _rows(v if v.dtype == dtype else v.to(dtype))
        slots = slot_mapping
        if slots.dtype != torch.int64 or not slots.is_contiguous():
            slots = slots.to(torch.int64).contiguous()
        self._core.store_kv(
            _DTYPES[k_cache.dtype],
            num_tokens,
            _token_arg(k),
            _token_arg(v),
            slots.data_ptr(),
            cache,
        )

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
        num_tokens = self._plan_args[1]
        _check_cpu_float("q", q, (num_tokens, self.num_heads, self.head_dim))
        _check(
            q.dtype == k_cache.dtype,
            f"q ({q.dtype}) and the KV cache ({k_cache.dtype}) must have the same dtype",
        )
        q = _rows(q)
        out = torch.empty_like(q) if q.is_contiguous() else q.new_empty(q.shape)
        if num_tokens == 0:
            return out
        self._core.forward(
            _DTYPES[q.dtype], *self._plan_args, _token_arg(q), cache, _token_arg(out)
        )
        return out
