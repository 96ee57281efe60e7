"""Load a Hugging Face-format folder (config.json + *.safetensors) into paste's model code.

The model is built on the meta device (no random init of hundreds of MB), materialised empty
on the target device, then every parameter is filled from the checkpoint. Checkpoint names map
onto paste's names one to one, except the fused projections:

    self_attn.{q,k,v}_proj.{weight,bias}  -> self_attn.qkv_proj   rows [q | k | v]
    mlp.{gate,up}_proj.{weight,bias}      -> mlp.gate_up_proj     rows [gate | up]

A parameter left unfilled, a shape mismatch, or an unknown tensor name raises
WeightLoadingError, so a wrong checkpoint never runs with garbage weights. lm_head.weight is
optional (and ignored) when embeddings are tied; rotary inv_freq buffers are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from paste.engine.attention import AttentionBackend, create_attention_backend
from paste.engine.models.config import ModelConfig
from paste.engine.models.llama import LlamaForCausalLM
from paste.engine.models.qwen2 import Qwen2ForCausalLM
from paste.engine.models.qwen3 import Qwen3ForCausalLM
from paste.errors import InvalidArgumentError

ARCHITECTURES: dict[str, type[LlamaForCausalLM]] = {
    "LlamaForCausalLM": LlamaForCausalLM,
    "MistralForCausalLM": LlamaForCausalLM,  # the llama decoder (config.py: sliding window)
    "Qwen2ForCausalLM": Qwen2ForCausalLM,
    "Qwen3ForCausalLM": Qwen3ForCausalLM,
}

FUSED = {  # checkpoint projection -> (fused name, index of the slice)
    "q_proj": ("qkv_proj", 0),
    "k_proj": ("qkv_proj", 1),
    "v_proj": ("qkv_proj", 2),
    "gate_proj": ("gate_up_proj", 0),
    "up_proj": ("gate_up_proj", 1),
}


class WeightLoadingError(InvalidArgumentError):
    """The checkpoint's tensors do not fit the model built from its config.json."""


def _safetensors_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / shard for shard in shards]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise WeightLoadingError(f"no *.safetensors files in {folder}")
    return files


def slice_sizes(model: LlamaForCausalLM, fused: str) -> list[int]:
    c = model.config
    if fused == "qkv_proj":
        kv = c.num_key_value_heads * c.head_dim
        return [c.num_attention_heads * c.head_dim, kv, kv]
    return [c.intermediate_size, c.intermediate_size]


def load_weights(model: LlamaForCausalLM, folder: str | Path) -> None:
    """Copy every tensor of the folder's safetensors into `model` (see module docstring)."""
    from safetensors import safe_open

    params = dict(model.named_parameters(remove_duplicate=False))
    filled: set[str] = set()
    for path in _safetensors_files(Path(folder)):
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open is not a dict
                if name.endswith("rotary_emb.inv_freq"):  # old checkpoints; recomputed here
                    continue
                _load_one(model, params, filled, name, f.get_tensor(name))
    if model.config.tie_word_embeddings:
        filled.add("lm_head.weight")
    missing = sorted(set(params) - filled)
    if missing:
        raise WeightLoadingError(f"checkpoint lacks {len(missing)} tensors, e.g. {missing[:3]}")


def _load_one(
    model: LlamaForCausalLM,
    params: dict[str, nn.Parameter],
    filled: set[str],
    name: str,
    tensor: torch.Tensor,
) -> None:
    parts = name.split(".")
    target, rows = name, None
    if len(parts) >= 2 and parts[-2] in FUSED:
        fused, index = FUSED[parts[-2]]
        target = ".".join([*parts[:-2], fused, parts[-1]])
        sizes = slice_sizes(model, fused)
        rows = (sum(sizes[:index]), sizes[index])
    if name == "lm_head.weight" and model.config.tie_word_embeddings:
        return  # tied: the embedding is the head
    param = params.get(target)
    if param is None:
        raise WeightLoadingError(f"checkpoint tensor {name!r} has no place in the model")
    dest = param.data if rows is None else param.data.narrow(0, rows[0], rows[1])
    if dest.shape != tensor.shape:
        raise WeightLoadingError(
            f"{name}: checkpoint shape {tuple(tensor.shape)} != model {tuple(dest.shape)}"
        )
    with torch.no_grad():
        dest.copy_(tensor)
    key = target if rows is None else f"{target}#{rows[0]}"
    filled.add(key)
    if rows is not None and _all_slices_filled(model, target, filled):
        filled.add(target)


def _all_slices_filled(model: LlamaForCausalLM, target: str, filled: set[str]) -> bool:
    fused = target.split(".")[-2]
    sizes = slice_sizes(model, fused)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return all(f"{target}#{start}" in filled for start in starts)


def load_model(
    folder: str | Path,
    *,
    backend: str | AttentionBackend = "auto",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LlamaForCausalLM:
    """Build the model class named by `folder/config.json`, load its weights, eval mode.

    `backend` is a registry name (see paste.engine.attention; "auto" resolves by device) or an
    already-built backend. The RoPE tables stay float32; everything else is `dtype`.
    """
    config = ModelConfig.from_folder(folder)
    device = torch.device(device)
    if isinstance(backend, str):
        backend = create_attention_backend(
            backend,
            device=device,
            dtype=dtype,
            num_heads=config.num_attention_heads,
            num_kv_heads=config.num_key_value_heads,
            head_dim=config.head_dim,
        )
    with torch.device("meta"):
        model = ARCHITECTURES[config.architecture](config, backend)
    model = model.to_empty(device=device)
    model.to(dtype)
    model.tie_weights()
    model.model.rotary.reset_tables()
    load_weights(model, folder)
    return model.eval()
