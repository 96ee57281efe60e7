"""Convert a GGUF file into a Hugging Face folder (config.json, safetensors, tokenizer).

transformers reads GGUF offline and dequantises every tensor; the result is written with
save_pretrained in the requested dtype. The GGUF quantizer is detached first (its
`hf_quantizer` and `config.quantization_config`), otherwise the saved folder would claim to
be GGUF-quantised and could not be loaded as plain safetensors.
"""

from __future__ import annotations

import os
from pathlib import Path

from paste.models.errors import ModelConversionError
from paste.models.progress import ProgressFn, no_progress

SUPPORTED_DTYPES = ("float32", "bfloat16", "float16")


def convert_gguf_to_hf(
    gguf_path: Path,
    out_dir: Path,
    *,
    dtype: str = "bfloat16",
    progress: ProgressFn = no_progress,
) -> None:
    """Write the HF-format model read from `gguf_path` into the existing folder `out_dir`.

    Raises ModelConversionError if transformers cannot read or write it; never touches the
    network (HF_HUB_OFFLINE is set for this process if unset).
    """
    if dtype not in SUPPORTED_DTYPES:
        raise ModelConversionError(f"dtype must be one of {SUPPORTED_DTYPES}, got {dtype!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    steps = 3
    try:
        progress("converting: tokenizer", 0, steps)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        progress("converting: dequantising weights", 1, steps)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
        progress("converting: writing safetensors", 2, steps)
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model = model.to(getattr(torch, dtype))
        model.save_pretrained(str(out_dir), safe_serialization=True)
        tokenizer.save_pretrained(str(out_dir))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelConversionError(f"could not convert {gguf_path.name}: {exc}") from exc
    progress("converting: done", steps, steps)
