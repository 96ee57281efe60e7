"""The "cuda" attention backend and the batched sampling step on paste's own CUDA kernels
(csrc/cuda/*.cu; kernel bodies in csrc/include/paste/cuda_kernels.h), via paste._core.cuda.

Same contract as the torch reference (kernels/torch_ref.py): store_kv writes K/V at
slot_mapping (skipping -1), forward runs causal attention of the flat batch through the CSR
block table (one block per (token, head) row; tuned for decode, correct for any plan).
Tensors cross into C++ as addresses with sizes and element strides, checked here first:

    q, out        [T, num_heads, head_dim]       float32, bfloat16 or float16, head_dim contiguous
    k, v          [T, num_kv_heads, head_dim]    any float dtype (cast to the cache's)
    k/v_cache     [num_blocks, block_size, num_kv_heads, head_dim], contiguous, q's dtype
    plan arrays   AttentionMetadata's device tensors (int32; slot_mapping int64)

Kernels run on the tensors' device, on its current torch stream. The kernels are compiled only
into a CUDA wheel (`make wheel-cuda`); elsewhere, and on a machine without a GPU, creating the
backend or calling a kernel raises paste.errors.CudaUnavailableError.

`emulate=True` runs the same kernel bodies on the CPU instead (CPU tensors, a block's lanes as
threads): the tests use it to check this module and the kernel logic against the reference on
machines without a GPU. It is slow; it is not a CPU backend.

The checked plan / store_kv / forward flow is NativeAttentionBackend's
(kernels/backend_common.py); this module adds the CUDA checks and kernel launches.
"""

from __future__ import annotations

from typing import Any

import torch
from paste.kernels.backend_common import NativeAttentionBackend, token_arg

from paste.errors import CudaUnavailableError, InvalidArgumentError

_DTYPES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


class CudaKernelInputError(InvalidArgumentError):
    """A tensor the CUDA kernels cannot take: wrong device, dtype, shape or layout."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise CudaKernelInputError(message)


def _cuda_module() -> Any:
    from paste import _core  # the native core; imported when a kernel is first used

    return _core.cuda


def cuda_kernels_built() -> bool:
    """Was paste._core compiled with the CUDA kernels (PASTE_WITH_CUDA)? Never raises."""
    try:
        return bool(_cuda_module().built)
    except (ImportError, AttributeError):
        return False


def cuda_kernels_available(device: torch.device | str) -> bool:
    """Can the kernels run on `device` (a CUDA device, kernels built, a GPU usable)? Cheap."""
    return (
        torch.device(device).type == "cuda"
        and cuda_kernels_built()
        and _cuda_module().device_count() > 0
    )


def require_cuda_kernels() -> None:
    """Raises CudaUnavailableError unless the kernels were built and a GPU can be used."""
    if not cuda_kernels_built():
        raise CudaUnavailableError(
            "paste was built without CUDA: build a CUDA wheel with `make wheel-cuda` "
            '(README "CUDA build")'
        )
    if _cuda_module().device_count() == 0:
        raise CudaUnavailableError("paste's CUDA kernels cannot run: no usable CUDA device")


class _Launcher:
    """Calls a kernel on the GPU (the tensor's device and current stream) or emulates it."""

    def __init__(self, emulate: bool, num_lanes: int) -> None:
        self.emulate, self.num_lanes = emulate, num_lanes
        self.device_type = "cpu" if emulate else "cuda"

    def __call__(self, kernel: str, device: torch.device, *args: object) -> None:
        cuda = _cuda_module()
        if self.emulate:
            getattr(cuda, f"emulate_{kernel}")(*args, num_lanes=self.num_lanes)
            return
        with torch.cuda.device(device):
            stream = torch.cuda.current_stream(device).cuda_stream
            getattr(cuda, kernel)(*args, stream=stream)


class CudaAttentionBackend(NativeAttentionBackend):
    """Backend "cuda": paste's CUDA KV store and paged attention (see module docstring).

    store_kv skips slots outside the cache (the plan check rejects them first).
    """

    name = "cuda"
    input_error = CudaKernelInputError

    def __init__(
        self,
        *,
        num_heads: int,
        num_kv_heads: int,
        head_dim: int,
        scale: float,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        emulate: bool = False,
        num_lanes: int = 4,
    ) -> None:
        if not emulate:
            require_cuda_kernels()
        self._check(dtype is None or dtype in _DTYPES, f"dtype must be one of {list(_DTYPES)}")
        super().__init__(
            num_heads=num_heads, num_kv_heads=num_kv_heads, head_dim=head_dim, scale=scale
        )
        self._launch = _Launcher(emulate, num_lanes)

    def _check_device(self, name: str, t: torch.Tensor) -> None:
        want = self._launch.device_type
        self._check(t.device.type == want, f"{name} must be on a {want} device, got {t.device}")

    def _check_cache_planes(self, k_cache: torch.Tensor, v_cache: torch.Tensor) -> None:
        self._check_tensor("k_cache", k_cache)
        self._check(
            k_cache.dim() == 4, "k_cache must be [num_blocks, block_size, num_kv_heads, head_dim]"
        )
        shape = (int(k_cache.shape[0]), int(k_cache.shape[1]), self.num_kv_heads, self.head_dim)
        self._check_tensor("k_cache", k_cache, shape)
        self._check_tensor("v_cache", v_cache, shape)
        self._check(k_cache.dtype in _DTYPES, f"the cache dtype must be one of {list(_DTYPES)}")

    def _check_kv(
        self, k: torch.Tensor, v: torch.Tensor, slot_mapping: torch.Tensor, num_tokens: int
    ) -> None:
        shape = (num_tokens, self.num_kv_heads, self.head_dim)
        self._check_tensor("k", k, shape)
        self._check_tensor("v", v, shape)
        self._check_tensor("slot_mapping", slot_mapping, (num_tokens,))
        self._check(not slot_mapping.is_floating_point(), "slot_mapping must hold integers")

    def _run_store_kv(
        self, k_cache: torch.Tensor, num_tokens: int, args: tuple[object, ...]
    ) -> None:
        sizes = (num_tokens, self.num_kv_heads, self.head_dim)
        self._launch("store_kv", k_cache.device, _DTYPES[k_cache.dtype], *sizes, *args)

    def _check_q(self, q: torch.Tensor, shape: tuple[int, ...], cache_dtype: torch.dtype) -> None:
        self._check_tensor("q", q, shape)
        self._check(q.dtype == cache_dtype, f"q ({q.dtype}) and the cache ({cache_dtype}) differ")

    def _run_attention(
        self, num_tokens: int, q: torch.Tensor, cache: tuple[int, ...], out: torch.Tensor
    ) -> None:
        heads = (self.num_heads, self.num_kv_heads, self.head_dim, self.scale)
        self._launch(
            "paged_attention",
            q.device,
            _DTYPES[q.dtype],
            num_tokens,
            heads,
            self._plan_arg,
            token_arg(q),
            cache,
            token_arg(out),
        )


def sample_tokens(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    seeds: torch.Tensor,
    offsets: torch.Tensor,
    *,
    emulate: bool = False,
    num_lanes: int = 4,
) -> torch.Tensor:
    """One token per row of float32 logits [m, V] (int64 [m]), one kernel launch.

    Per row: temperature (0: greedy, first argmax; top_k == 1 too), top_k (<= 0 keeps all),
    top_p (>= 1 keeps all), and the noise stream (seeds[i], offsets[i]): a row's token depends
    only on its logits, seed and offset, so the caller advances each request's offset once per
    step. Same distribution as paste.engine.sampler, different random stream.
    """
    launch = _Launcher(emulate, num_lanes)
    if not emulate:
        require_cuda_kernels()
    _check(isinstance(logits, torch.Tensor) and logits.dim() == 2, "logits must be [m, V]")
    _check(logits.device.type == launch.device_type, f"logits must be on {launch.device_type}")
    m = int(logits.shape[0])
    logits = logits.float()
    if logits.stride(-1) != 1:
        logits = logits.contiguous()
    params = []
    for name, t, dtype in (
        ("temperature", temperature, torch.float32),
        ("top_k", top_k, torch.int32),
        ("top_p", top_p, torch.float32),
        ("seeds", seeds, torch.int64),
        ("offsets", offsets, torch.int64),
    ):
        _check(isinstance(t, torch.Tensor) and tuple(t.shape) == (m,), f"{name} must be [{m}]")
        params.append(t.to(device=logits.device, dtype=dtype).contiguous())
    tokens = torch.empty(m, dtype=torch.int64, device=logits.device)
    if m == 0:
        return tokens
    launch(
        "sample",
        logits.device,
        m,
        int(logits.shape[1]),
        logits.data_ptr(),
        logits.stride(0),
        tuple(p.data_ptr() for p in params),
        tokens.data_ptr(),
    )
    return tokens
