"""LoRA adapters in PEFT's format, served beside the base model and chosen per request.

An adapter folder holds `adapter_config.json` (r, lora_alpha, use_rslora, bias,
fan_in_fan_out, modules_to_save, use_dora) and `adapter_model.safetensors` (or PEFT's older
`adapter_model.bin`) with, per adapted linear layer, `base_model.model.<module>.lora_A.weight`
[r, in] and `...lora_B.weight` [out, r]. The layer's output gains scaling * x @ A.T @ B.T, with
scaling = lora_alpha / r (lora_alpha / sqrt(r) with use_rslora); the scaling is folded into B
at load. paste fuses q/k/v and gate/up (models/loader.py), so q_proj's delta lands on
qkv_proj's q rows, up_proj's on gate_up_proj's up rows, each a `LoraDelta` slice.

Anything paste cannot apply exactly is refused with LoraError naming the folder, before the
engine serves: a missing or unreadable file, a rank above max_lora_rank (vLLM's
--max-lora-rank), a bias other than "none", fan_in_fan_out, DoRA, modules_to_save, a module
outside the decoder's linear layers (embed_tokens, lm_head), a lora_A without its lora_B, a
shape that does not fit the base model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from paste.engine.models.llama import LlamaForCausalLM
from paste.engine.models.loader import FUSED, slice_sizes
from paste.errors import InvalidArgumentError

# <module>.lora_A.weight or <module>.lora_A.<adapter name>.weight, after PEFT's prefix
_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?"
                  r"\.weight$")
_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoraError(InvalidArgumentError):
    """A LoRA adapter that cannot be loaded or applied to this base model."""


class LoraNameError(InvalidArgumentError):
    """A LoRA adapter name already loaded (load), or not loaded (unload)."""


class LoraInUseError(InvalidArgumentError):
    """An adapter that cannot be unloaded yet: requests still run it."""


@dataclass(frozen=True)
class LoraDelta:
    """One adapted slice of a paste linear layer: output rows [start, start + size) gain
    x @ a.T @ b.T (b already scaled; both float32, on the model's device)."""

    start: int
    size: int
    a: torch.Tensor  # [r, in]
    b: torch.Tensor  # [size, r]


@dataclass
class LoraAdapter:
    """A loaded adapter: its deltas per paste module name (`model.layers.0.self_attn.qkv_proj`)."""

    name: str
    path: str
    rank: int
    deltas: dict[str, list[LoraDelta]] = field(default_factory=dict)


def load_adapter(name: str, path: str | Path, model: LlamaForCausalLM,
                 max_rank: int) -> LoraAdapter:
    """Read the PEFT adapter at `path` for `model` (a loaded paste model, whose device the
    deltas take); LoraError for anything the module docstring refuses."""
    folder = Path(path)
    config = _read_config(folder)
    rank = config.get("r")
    if not isinstance(rank, int) or rank <= 0:
        raise LoraError(f"{folder}: adapter_config.json needs a positive integer 'r'")
    if rank > max_rank:
        raise LoraError(f"{folder}: rank {rank} is above max_lora_rank {max_rank} "
                        f"(--max-lora-rank)")
    _refuse_unsupported(folder, config)
    alpha = config.get("lora_alpha", rank)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float):
        raise LoraError(f"{folder}: 'lora_alpha' must be a number")
    scaling = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    pairs = _pairs(folder, _read_tensors(folder))
    weight = next(model.parameters())
    adapter = LoraAdapter(name, str(folder), rank)
    modules = dict(model.named_modules())
    for module_name, (a, b) in sorted(pairs.items()):
        target, start, size = _place(folder, model, modules, module_name)
        layer = modules[target]
        if a.shape != (rank, layer.in_features) or b.shape != (size, rank):
            raise LoraError(f"{folder}: {module_name} has lora_A {tuple(a.shape)} and lora_B "
                            f"{tuple(b.shape)}; this model needs ({rank}, {layer.in_features}) "
                            f"and ({size}, {rank})")
        delta = LoraDelta(start, size, a.to(weight.device, torch.float32),
                          (b.float() * scaling).to(weight.device))
        adapter.deltas.setdefault(target, []).append(delta)
    return adapter


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "adapter_config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise LoraError(f"{folder}: no adapter_config.json (not a PEFT LoRA adapter)") from None
    except (OSError, ValueError) as exc:
        raise LoraError(f"{path}: unreadable ({exc})") from None
    if not isinstance(config, dict):
        raise LoraError(f"{path}: not a JSON object")
    peft_type = config.get("peft_type", "LORA")
    if peft_type != "LORA":
        raise LoraError(f"{path}: peft_type {peft_type!r} is not LORA")
    return config


def _refuse_unsupported(folder: Path, config: dict[str, Any]) -> None:
    if config.get("bias", "none") != "none":
        raise LoraError(f"{folder}: bias {config['bias']!r} is not supported (only 'none')")
    if config.get("fan_in_fan_out"):
        raise LoraError(f"{folder}: fan_in_fan_out adapters (GPT-2 style Conv1D) are not "
                        f"supported")
    if config.get("use_dora"):
        raise LoraError(f"{folder}: DoRA adapters are not supported")
    if config.get("modules_to_save"):
        raise LoraError(f"{folder}: modules_to_save {config['modules_to_save']} (fully "
                        f"trained layers) are not supported")


def _read_tensors(folder: Path) -> dict[str, torch.Tensor]:
    safetensors_path = folder / "adapter_model.safetensors"
    bin_path = folder / "adapter_model.bin"
    try:
        if safetensors_path.is_file():
            from safetensors.torch import load_file

            return dict(load_file(str(safetensors_path)))
        if bin_path.is_file():
            loaded = torch.load(str(bin_path), map_location="cpu", weights_only=True)
            if not isinstance(loaded, dict):
                raise LoraError(f"{bin_path}: not a dict of tensors")
            return loaded
    except LoraError:
        raise
    except Exception as exc:  # a corrupt file: safetensors and torch raise many types
        raise LoraError(f"{folder}: unreadable adapter weights ({exc})") from None
    raise LoraError(f"{folder}: no adapter_model.safetensors or adapter_model.bin")


def _pairs(folder: Path,
           tensors: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{module name: (lora_A, lora_B)}; LoraError for a tensor of another kind or a half."""
    halves: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        match = _KEY.match(key)
        if match is None:
            raise LoraError(f"{folder}: tensor {key!r} is not a LoRA A/B weight (layers saved "
                            f"whole with the adapter are not supported)")
        halves.setdefault(match["module"], {})[match["ab"]] = tensor
    if not halves:
        raise LoraError(f"{folder}: the adapter holds no LoRA weights")
    for module_name, ab in halves.items():
        if set(ab) != {"A", "B"}:
            raise LoraError(f"{folder}: {module_name} has lora_{''.join(ab)} without its pair")
    return {m: (ab["A"], ab["B"]) for m, ab in halves.items()}


def _place(folder: Path, model: LlamaForCausalLM, modules: dict[str, nn.Module],
           module_name: str) -> tuple[str, int, int]:
    """(paste module name, first output row, rows) of a checkpoint module name."""
    *parent, leaf = module_name.split(".")
    if leaf not in _LINEAR:
        raise LoraError(f"{folder}: {module_name} is not a decoder linear layer paste adapts "
                        f"({', '.join(_LINEAR)})")
    if leaf in FUSED:
        fused, index = FUSED[leaf]
        sizes = slice_sizes(model, fused)
        target, start, size = ".".join([*parent, fused]), sum(sizes[:index]), sizes[index]
    else:
        target, start, size = module_name, 0, -1
    layer = modules.get(target)
    if not isinstance(layer, nn.Linear):
        raise LoraError(f"{folder}: {module_name} has no place in this model")
    return target, start, layer.out_features if size < 0 else size
