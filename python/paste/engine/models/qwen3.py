"""paste's qwen3-family decoder (Qwen3 dense models: 0.6B to 32B).

A llama decoder without q/k/v bias whose q and k are RMS-normalised per head before RoPE
(`self_attn.q_norm` / `k_norm`, one weight of head_dim each, shared across heads);
ModelConfig.from_dict sets `qk_norm=True` for Qwen3ForCausalLM and reads `head_dim` from
config.json (qwen3's is not hidden_size / heads). Sliding-window layers are refused by the
config. Qwen3's MoE models (Qwen3MoeForCausalLM) are a different architecture.
"""

from __future__ import annotations

from paste.engine.attention import AttentionBackend
from paste.engine.models.config import ModelConfig, UnsupportedModelError
from paste.engine.models.llama import LlamaForCausalLM


class Qwen3ForCausalLM(LlamaForCausalLM):
    """Qwen3 causal LM; requires `config.qk_norm` (per-head q/k RMSNorm)."""

    def __init__(self, config: ModelConfig, backend: AttentionBackend) -> None:
        if not config.qk_norm:
            raise UnsupportedModelError("qwen3 models normalise q and k per head; config "
                                        "says otherwise")
        super().__init__(config, backend)
