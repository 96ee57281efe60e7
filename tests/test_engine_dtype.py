"""EngineConfig.dtype "auto": the checkpoint's precision where the device computes it
natively, else float32 (engine/dtypes.py); an explicit dtype as given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from paste.engine.config import EngineConfig
from paste.engine.dtypes import (
    checkpoint_dtype,
    cpu_flags_have_native_bf16,
    cpu_has_native_bf16,
    resolve_dtype,
)
from paste.engine.models.config import ModelConfig
from paste.errors import InvalidArgumentError
from tiny_model import build_tiny_model, make_tiny_engine

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme avx2 avx512f avx512bw {extra}
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu vme avx2 avx512_bf16
"""


def test_checkpoint_dtype_reads_both_spellings_of_the_field() -> None:
    assert checkpoint_dtype({"dtype": "bfloat16"}) == "bfloat16"
    assert checkpoint_dtype({"torch_dtype": "float16"}) == "float16"
    assert checkpoint_dtype({"torch_dtype": "torch.bfloat16"}) == "bfloat16"
    assert checkpoint_dtype({"dtype": "float32", "torch_dtype": "bfloat16"}) == "float32"
    assert checkpoint_dtype({"dtype": "bf16"}) == "bfloat16"
    assert checkpoint_dtype({}) is None
    assert checkpoint_dtype({"dtype": "int8"}) is None
    assert checkpoint_dtype({"dtype": 16}) is None


def test_cpu_flags_name_native_bf16_on_the_first_cpu_only() -> None:
    assert cpu_flags_have_native_bf16(CPUINFO.format(extra="avx512_bf16")) is True
    assert cpu_flags_have_native_bf16(CPUINFO.format(extra="amx_bf16 amx_tile")) is True
    # avx512bw alone emulates bf16; the second CPU's flags are not read
    assert cpu_flags_have_native_bf16(CPUINFO.format(extra="")) is False
    assert cpu_flags_have_native_bf16("processor: 0\n") is False


@pytest.mark.parametrize(("checkpoint", "native", "want"), [
    ("bfloat16", True, "bfloat16"),
    ("bfloat16", False, "float32"),
    ("float16", True, "bfloat16"),
    ("float16", False, "float32"),
    ("float32", True, "float32"),
    (None, True, "float32"),
])
def test_auto_on_a_cpu(checkpoint: str | None, native: bool, want: str) -> None:
    assert resolve_dtype("auto", checkpoint, "cpu", native_bf16=native) == want


@pytest.mark.parametrize(("checkpoint", "bf16_units", "want"), [
    ("bfloat16", True, "bfloat16"),
    ("bfloat16", False, "float16"),
    ("float16", True, "float16"),
    ("float32", True, "float32"),
    (None, True, "float32"),
])
def test_auto_on_a_gpu(checkpoint: str | None, bf16_units: bool, want: str) -> None:
    assert resolve_dtype("auto", checkpoint, "cuda", cuda_bf16=bf16_units) == want


def test_an_explicit_dtype_is_used_as_given_and_a_bad_one_is_a_typed_error() -> None:
    for name in ("float32", "bfloat16", "float16"):
        assert resolve_dtype(name, "bfloat16", "cpu", native_bf16=False) == name
        assert resolve_dtype(name, None, "cuda", cuda_bf16=False) == name
    assert resolve_dtype("auto", "bfloat16", "meta") == "float32"
    with pytest.raises(InvalidArgumentError, match="got 'int8'"):
        resolve_dtype("int8", "bfloat16", "cpu")
    assert EngineConfig().dtype == "auto"
    with pytest.raises(InvalidArgumentError, match="dtype must be auto, float32, bfloat16 or "
                                                   "float16, got 'fp8'"):
        EngineConfig(dtype="fp8")


def _set_checkpoint_dtype(folder: Path, name: str) -> None:
    path = folder / "config.json"
    raw = json.loads(path.read_text())
    raw["dtype"] = name
    path.write_text(json.dumps(raw))


@pytest.mark.parametrize("checkpoint", ["float32", "bfloat16"])
def test_the_engine_runs_the_resolved_dtype(tmp_path: Path, checkpoint: str) -> None:
    """A tiny checkpoint labelled float32 runs in float32; labelled bfloat16 it runs in
    bfloat16 exactly when this CPU has bf16 units. Weights, KV cache and EngineInfo agree,
    and greedy decoding runs."""
    from paste.engine.request import GenerationParams

    folder = build_tiny_model(tmp_path / "m")
    _set_checkpoint_dtype(folder, checkpoint)
    assert ModelConfig.from_folder(folder).checkpoint_dtype == checkpoint
    want = "bfloat16" if checkpoint == "bfloat16" and cpu_has_native_bf16() else "float32"
    engine = make_tiny_engine(folder)
    try:
        runner = engine.core.runner
        assert engine.info.dtype == want
        assert runner.dtype == getattr(torch, want)
        assert {p.dtype for p in runner.model.parameters()} == {getattr(torch, want)}
        assert {c.dtype for c in runner.kv_caches} == {getattr(torch, want)}
        out = engine.generate([[5, 6, 7]], GenerationParams(max_tokens=4, ignore_eos=True))[0]
        assert len(out.token_ids) == 4
    finally:
        engine.shutdown()


def test_an_explicit_dtype_overrides_the_checkpoint(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "m")
    _set_checkpoint_dtype(folder, "bfloat16")
    engine = make_tiny_engine(folder, dtype="float32")
    try:
        assert engine.info.dtype == "float32"
        assert {p.dtype for p in engine.core.runner.model.parameters()} == {torch.float32}
    finally:
        engine.shutdown()
