"""paste's qwen2-family decoder (Qwen2, Qwen2.5).

Architecturally a llama decoder whose q/k/v projections carry a bias (o_proj does not);
ModelConfig.from_dict sets `attention_bias=True` for Qwen2ForCausalLM, so the llama code
serves both. The subclass exists so the architecture registry names a qwen2 class and a
future divergence (e.g. sliding-window layers) has a home.
"""

from __future__ import annotations

from paste.engine.attention import AttentionBackend
from paste.engine.models.config import ModelConfig, UnsupportedModelError
from paste.engine.models.llama import LlamaForCausalLM


class Qwen2ForCausalLM(LlamaForCausalLM):
    """Qwen2 causal LM; requires `config.attention_bias` (q/k/v bias)."""

    def __init__(self, config: ModelConfig, backend: AttentionBackend) -> None:
        if not config.attention_bias:
            raise UnsupportedModelError("qwen2 models have q/k/v bias; config says otherwise")
        super().__init__(config, backend)
