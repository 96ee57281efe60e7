"""ModelConfig: the subset of a Hugging Face config.json paste's model code needs.

Reads both transformers 4 (`rope_theta`, `rope_scaling`) and transformers 5
(`rope_parameters`) spellings. Anything the model code does not implement (rope scaling
other than default, sliding-window attention, non-SiLU activations) is rejected with
UnsupportedModelError instead of silently producing wrong logits.

Mistral checkpoints (`MistralForCausalLM`) are llama decoders; those whose `sliding_window` is
shorter than `max_position_embeddings` (Mistral 7B v0.1: 4096 of 32768) attend to at most
`sliding_window` earlier tokens. Within that many positions sliding-window attention IS full
attention, so paste serves them exactly with the context capped there
(`max_position_embeddings` = the window; the engine's max_model_len follows it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paste.engine.dtypes import checkpoint_dtype
from paste.errors import InvalidArgumentError


class UnsupportedModelError(InvalidArgumentError):
    """The checkpoint uses an architecture or option paste's model code does not implement."""


SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM",
                           "Qwen3ForCausalLM")
_MODEL_TYPES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
                "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of a llama/mistral/qwen2/qwen3-family decoder (names follow HF
    config.json)."""

    architecture: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    max_position_embeddings: int
    tie_word_embeddings: bool
    attention_bias: bool  # bias on q/k/v projections (always True for qwen2)
    mlp_bias: bool
    qk_norm: bool = False  # an RMSNorm over each head of q and k before RoPE (qwen3)
    bos_token_id: int | None = None
    eos_token_ids: tuple[int, ...] = ()
    checkpoint_dtype: str | None = None  # the weights' dtype config.json names (dtypes.py)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelConfig:
        """Parse a config.json dictionary; UnsupportedModelError for options not implemented."""
        archs = raw.get("architectures") or []
        arch = archs[0] if archs else _MODEL_TYPES.get(raw.get("model_type", ""))
        if arch not in SUPPORTED_ARCHITECTURES:
            raise UnsupportedModelError(
                f"architecture {arch!r} is not supported (supported: {SUPPORTED_ARCHITECTURES})"
            )
        if raw.get("hidden_act", "silu") != "silu":
            raise UnsupportedModelError(f"hidden_act {raw['hidden_act']!r} is not supported")
        rope = raw.get("rope_parameters") or raw.get("rope_scaling") or {}
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type != "default":
            raise UnsupportedModelError(f"rope type {rope_type!r} is not supported")
        theta = rope.get("rope_theta", raw.get("rope_theta", 10000.0))
        if arch.startswith("Qwen") and raw.get("use_sliding_window", False):
            raise UnsupportedModelError(
                f"{raw.get('model_type', arch)} sliding-window attention is not supported")
        layer_types = set(raw.get("layer_types") or ["full_attention"])
        if layer_types != {"full_attention"}:
            raise UnsupportedModelError(
                f"layer types {sorted(layer_types)} are not supported (only full_attention)")
        heads = int(raw["num_attention_heads"])
        hidden = int(raw["hidden_size"])
        eos = raw.get("eos_token_id")
        eos_ids = tuple(eos) if isinstance(eos, list) else (() if eos is None else (int(eos),))
        max_positions = int(raw.get("max_position_embeddings", 2048))
        window = raw.get("sliding_window") if arch == "MistralForCausalLM" else None
        if window is not None:  # exact below the window (module docstring)
            if not isinstance(window, int) or isinstance(window, bool) or window < 1:
                raise UnsupportedModelError(f"sliding_window must be a positive integer or null, "
                                            f"got {window!r}")
            max_positions = min(max_positions, window)
        return cls(
            architecture=arch,
            vocab_size=int(raw["vocab_size"]),
            hidden_size=hidden,
            intermediate_size=int(raw["intermediate_size"]),
            num_hidden_layers=int(raw["num_hidden_layers"]),
            num_attention_heads=heads,
            num_key_value_heads=int(raw.get("num_key_value_heads") or heads),
            head_dim=int(raw.get("head_dim") or hidden // heads),
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
            rope_theta=float(theta),
            max_position_embeddings=max_positions,
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            attention_bias=arch == "Qwen2ForCausalLM" or bool(raw.get("attention_bias", False)),
            mlp_bias=bool(raw.get("mlp_bias", False)),
            qk_norm=arch == "Qwen3ForCausalLM",
            bos_token_id=raw.get("bos_token_id"),
            eos_token_ids=eos_ids,
            checkpoint_dtype=checkpoint_dtype(raw),
        )

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModelConfig:
        """Read `folder/config.json`; InvalidArgumentError if it is missing."""
        path = Path(folder) / "config.json"
        if not path.is_file():
            raise InvalidArgumentError(f"no config.json in {folder}")
        return cls.from_dict(json.loads(path.read_text()))
