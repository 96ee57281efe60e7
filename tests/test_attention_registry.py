"""The attention backend registry: names, "auto" resolution, typed errors."""

from __future__ import annotations

import pytest
import torch

from paste.engine import attention
from paste.engine.attention import (
    AttentionBackendUnavailableError,
    UnknownAttentionBackendError,
    attention_backend_names,
    create_attention_backend,
    resolve_attention_backend_name,
)


def test_registered_names() -> None:
    assert attention_backend_names() == ["cpu", "cuda", "flashinfer", "torch", "triton"]


def _cpu_kernel(monkeypatch: pytest.MonkeyPatch, built: bool) -> None:
    entry = attention._REGISTRY["cpu"]
    monkeypatch.setitem(
        attention._REGISTRY,
        "cpu",
        attention.BackendEntry(
            "cpu", entry.factory, lambda d: built and d.type == "cpu", entry.supports_dtype
        ),
    )


def test_auto_on_cpu_prefers_the_native_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASTE_ATTENTION_BACKEND", raising=False)
    _cpu_kernel(monkeypatch, built=True)
    assert resolve_attention_backend_name("auto", "cpu") == "cpu"
    assert resolve_attention_backend_name(None, "cpu", torch.bfloat16) == "cpu"
    assert resolve_attention_backend_name("auto", "cpu", torch.float16) == "torch"
    with pytest.raises(AttentionBackendUnavailableError, match="dtype torch.float16"):
        resolve_attention_backend_name("cpu", "cpu", torch.float16)


def test_auto_on_cpu_is_torch_without_the_native_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASTE_ATTENTION_BACKEND", raising=False)
    _cpu_kernel(monkeypatch, built=False)
    assert resolve_attention_backend_name("auto", "cpu") == "torch"
    assert resolve_attention_backend_name(None, "cpu") == "torch"
    with pytest.raises(AttentionBackendUnavailableError, match="'cpu' cannot run"):
        resolve_attention_backend_name("cpu", "cpu")


def test_env_var_selects_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASTE_ATTENTION_BACKEND", "TORCH")
    assert resolve_attention_backend_name(None, "cpu") == "torch"
    monkeypatch.setenv("PASTE_ATTENTION_BACKEND", "nope")
    with pytest.raises(
        UnknownAttentionBackendError, match="auto or one of cpu, cuda, flashinfer, torch, triton"
    ):
        resolve_attention_backend_name(None, "cpu")


def test_gpu_backends_are_unavailable_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    for name in ("flashinfer", "triton"):
        with pytest.raises(AttentionBackendUnavailableError, match=name):
            resolve_attention_backend_name(name, "cpu")
    with pytest.raises(AttentionBackendUnavailableError, match="'cpu' cannot run on device meta"):
        resolve_attention_backend_name("cpu", "meta")


def test_create_checks_head_counts_and_defaults_scale() -> None:
    backend = create_attention_backend(
        "torch", device="cpu", dtype=torch.float32, num_heads=6, num_kv_heads=2, head_dim=16
    )
    assert backend.name == "torch"
    assert backend.scale == 0.25  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        create_attention_backend(
            "torch", device="cpu", dtype=torch.float32, num_heads=6, num_kv_heads=4, head_dim=16
        )
