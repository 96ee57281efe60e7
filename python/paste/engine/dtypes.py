"""The dtype an engine runs its model in: EngineConfig.dtype, with "auto" resolved.

"auto" (the default, vLLM's meaning) runs a checkpoint in the precision it was saved in when
the device computes that precision natively, else in float32:

    checkpoint   cuda                                   cpu
    float32      float32                                float32
    bfloat16     bfloat16 (float16 without bf16 units)  bfloat16 with native bf16 units, else float32
    float16      float16                                bfloat16 with native bf16 units, else float32

A CPU has native bf16 units when it reports AVX512-BF16 or AMX-BF16 (Linux /proc/cpuinfo
flags). There bfloat16 halves the bytes each decode step reads and uses the bf16 dot-product
units: on this 2-core AVX512-BF16 machine SmolLM2-135M decodes 1.24x faster than in float32
at batch 1 and 1.83x at batch 8 (bench/RESULTS.md, bench_engine). Without them bf16 matmuls
are emulated (not measured here), so auto keeps float32. A float16 checkpoint on a CPU runs in bfloat16:
CPUs have no fast float16 matmul, and bfloat16 has float32's exponent range (no float16 value
overflows it) at 3 fewer mantissa bits. A checkpoint that names no dtype is float32. An
explicit dtype is used as it is.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from paste.errors import InvalidArgumentError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
_CHECKPOINT_NAMES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16",
                     "fp32": "float32", "bf16": "bfloat16", "fp16": "float16",
                     "float": "float32", "half": "float16"}


def checkpoint_dtype(raw: dict[str, object]) -> str | None:
    """The dtype a config.json says its weights are in ("dtype", or transformers 4's
    "torch_dtype"; "torch.bfloat16" spellings too), None when it names none or an unknown
    one."""
    value = raw.get("dtype") or raw.get("torch_dtype")
    if not isinstance(value, str):
        return None
    return _CHECKPOINT_NAMES.get(value.removeprefix("torch."))


def cpu_flags_have_native_bf16(cpuinfo: str) -> bool:
    """Whether a /proc/cpuinfo text lists AVX512-BF16 or AMX-BF16 on its first CPU."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return not NATIVE_BF16_FLAGS.isdisjoint(value.split())
    return False


@functools.cache
def cpu_has_native_bf16() -> bool:
    """This machine's CPU has bf16 units (False where /proc/cpuinfo cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return cpu_flags_have_native_bf16(text)


def resolve_dtype(requested: str, checkpoint: str | None, device: torch.device | str,
                  *, native_bf16: bool | None = None, cuda_bf16: bool | None = None) -> str:
    """The dtype name to run in (module docstring). `native_bf16` / `cuda_bf16` override
    what this machine's CPU / GPU reports (for tests and for callers that know better)."""
    if requested != "auto":
        if requested not in DTYPES:
            raise InvalidArgumentError(
                f"dtype must be auto, float32, bfloat16 or float16, got {requested!r}")
        return requested
    if checkpoint not in ("bfloat16", "float16"):
        return "float32"
    kind = torch.device(device).type
    if kind == "cuda":
        if checkpoint == "float16":
            return "float16"
        supported = torch.cuda.is_bf16_supported() if cuda_bf16 is None else cuda_bf16
        return "bfloat16" if supported else "float16"
    if kind == "cpu":
        native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
        return "bfloat16" if native else "float32"
    return "float32"  # other devices: the precision every backend computes
