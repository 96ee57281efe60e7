"""Attention backends, chosen by name through a small registry.

A backend is an object that, for one model (fixed head counts and head_dim), does:

    plan(metadata)                                   once per step, before the first layer
    store_kv(k, v, k_cache, v_cache, slot_mapping)   write this step's K/V into the paged cache
    forward(q, k_cache, v_cache, metadata) -> out    paged causal attention, out like q

with q [T, num_heads, head_dim], k/v [T, num_kv_heads, head_dim], k_cache/v_cache
[num_blocks, block_size, num_kv_heads, head_dim] (one plane of paste.engine.models.kv_cache).

Registered backends (implementations live in paste.kernels and are imported lazily, so
`import paste` needs neither Triton nor FlashInfer):

    torch       readable reference, any device
    triton      Triton kernels (GPU; on CPU only under TRITON_INTERPRET=1, for tests)
    flashinfer  FlashInfer paged prefill/decode wrappers (CUDA only)
    cpu         the C++ paged-attention kernel (paste._core.PagedAttention; float32/bfloat16)

"auto" resolves by device: cuda -> flashinfer if importable, else cuda, else triton; cpu -> "cpu" if
the native core has the kernel and takes the dtype, else torch.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from paste import envs
from paste.errors import InvalidArgumentError, PasteError

if TYPE_CHECKING:
    from paste.engine.models.metadata import AttentionMetadata


class UnknownAttentionBackendError(InvalidArgumentError):
    """A backend name that is not registered."""


class AttentionBackendUnavailableError(PasteError, RuntimeError):
    """A registered backend whose library or device is missing on this machine."""


class AttentionBackend(Protocol):
    """What the model code calls; see the module docstring for shapes."""

    name: str

    def plan(self, metadata: AttentionMetadata) -> None: ...

    def store_kv(
        self,
        k: torch.Tensor,
        v: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        slot_mapping: torch.Tensor,
    ) -> None: ...

    def forward(
        self,
        q: torch.Tensor,
        k_cache: torch.Tensor,
        v_cache: torch.Tensor,
        metadata: AttentionMetadata,
    ) -> torch.Tensor: ...


# factory(num_heads=, num_kv_heads=, head_dim=, scale=, device=, dtype=) -> backend
BackendFactory = Callable[..., AttentionBackend]


def _any_dtype(_dtype: torch.dtype) -> bool:
    return True


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: how to build it, whether it can run on a device, and which
    dtypes its kernels take ("auto" skips a backend that cannot take the model's dtype)."""

    name: str
    factory: BackendFactory
    is_available: Callable[[torch.device], bool]
    supports_dtype: Callable[[torch.dtype], bool] = _any_dtype


_REGISTRY: dict[str, BackendEntry] = {}


def register_attention_backend(
    name: str,
    factory: BackendFactory,
    is_available: Callable[[torch.device], bool],
    supports_dtype: Callable[[torch.dtype], bool] = _any_dtype,
) -> None:
    """Add (or replace) backend `name`; the predicates must be cheap and must not raise."""
    _REGISTRY[name] = BackendEntry(name, factory, is_available, supports_dtype)


def attention_backend_names() -> list[str]:
    """Registered backend names, sorted ("auto" is not a backend)."""
    return sorted(_REGISTRY)


def _lazy(module: str, cls: str) -> BackendFactory:
    def factory(**kwargs: object) -> AttentionBackend:
        backend_cls = getattr(importlib.import_module(module), cls)
        return backend_cls(**kwargs)  # type: ignore[no-any-return]

    return factory


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


register_attention_backend(
    "torch", _lazy("paste.kernels.torch_ref", "TorchAttentionBackend"), lambda _d: True
)
register_attention_backend(
    "triton",
    _lazy("paste.kernels.triton_attention", "TritonAttentionBackend"),
    lambda d: _importable("triton") and (d.type == "cuda" or envs.triton_interpret()),
)


def _native_cpu_kernel_built() -> bool:
    try:
        core = importlib.import_module("paste._core")
    except ImportError:
        return False
    return hasattr(core, "PagedAttention")


register_attention_backend(
    "cpu",
    _lazy("paste.kernels.cpu_attention", "CpuAttentionBackend"),
    lambda d: d.type == "cpu" and _native_cpu_kernel_built(),
    lambda dtype: dtype in (torch.float32, torch.bfloat16),
)
register_attention_backend(
    "flashinfer",
    _lazy("paste.kernels.flashinfer_backend", "FlashInferAttentionBackend"),
    lambda d: d.type == "cuda" and _importable("flashinfer"),
)
register_attention_backend(
    "cuda",
    _lazy("paste.kernels.cuda_backend", "CudaAttentionBackend"),
    lambda d: d.type == "cuda"
    and importlib.import_module("paste.kernels.cuda_backend").cuda_kernels_available(d),
    lambda dtype: dtype in (torch.float32, torch.bfloat16, torch.float16),
)


def resolve_attention_backend_name(
    name: str | None, device: torch.device | str, dtype: torch.dtype | None = None
) -> str:
    """Turn "auto" (or None: PASTE_ATTENTION_BACKEND) into a concrete registered name.

    Raises UnknownAttentionBackendError for an unregistered name and
    AttentionBackendUnavailableError if the named backend cannot run on `device` or cannot
    take `dtype` (None: not checked).
    """
    device = torch.device(device)
    chosen = (name or envs.attention_backend()).lower()
    if chosen == "auto":
        if device.type == "cuda":
            order = ["flashinfer", "cuda", "triton"]  # cuda: paste's own kernels (unverified on GPU)
        else:
            order = ["cpu", "torch"]
        for candidate in order:
            entry = _REGISTRY.get(candidate)
            if entry is None or not entry.is_available(device):
                continue
            if dtype is None or entry.supports_dtype(dtype):
                return candidate
        return "torch"
    entry = _REGISTRY.get(chosen)
    if entry is None:
        raise UnknownAttentionBackendError(
            f"unknown attention backend {chosen!r}; choose auto or one of "
            f"{', '.join(attention_backend_names())}"
        )
    if not entry.is_available(device):
        raise AttentionBackendUnavailableError(
            f"attention backend {chosen!r} cannot run on device {device}"
        )
    if dtype is not None and not entry.supports_dtype(dtype):
        raise AttentionBackendUnavailableError(
            f"attention backend {chosen!r} does not support dtype {dtype}"
        )
    return chosen


def create_attention_backend(
    name: str | None,
    *,
    device: torch.device | str,
    dtype: torch.dtype,
    num_heads: int,
    num_kv_heads: int,
    head_dim: int,
    scale: float | None = None,
) -> AttentionBackend:
    """Build the backend `name` ("auto"/None resolve as above) for one model's attention.

    `scale` defaults to head_dim ** -0.5. num_heads must be a multiple of num_kv_heads.
    """
    if num_heads % num_kv_heads != 0:
        raise InvalidArgumentError(
            f"num_heads ({num_heads}) must be a multiple of num_kv_heads ({num_kv_heads})"
        )
    resolved = resolve_attention_backend_name(name, device, dtype)
    return _REGISTRY[resolved].factory(
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        head_dim=head_dim,
        scale=head_dim**-0.5 if scale is None else scale,
        device=torch.device(device),
        dtype=dtype,
    )
