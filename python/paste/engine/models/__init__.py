"""paste's own model code (llama, mistral, qwen2 and qwen3 families) on a paged KV cache.

config.py     ModelConfig parsed from config.json; UnsupportedModelError
layers.py     RMSNorm, RotaryEmbedding, SiluGatedMLP
llama.py      LlamaForCausalLM (GQA attention through an attention backend); also Mistral
qwen2.py      Qwen2ForCausalLM (llama + q/k/v bias)
qwen3.py      Qwen3ForCausalLM (llama + per-head q/k RMSNorm)
loader.py     load_model(folder, backend=, device=, dtype=) from HF safetensors
kv_cache.py   allocate_kv_cache(config, num_blocks=, block_size=, dtype=, device=)
metadata.py   AttentionMetadata: one step's plan as tensors
"""

from paste.engine.models.config import ModelConfig, UnsupportedModelError
from paste.engine.models.kv_cache import allocate_kv_cache, kv_cache_bytes_per_block
from paste.engine.models.loader import ARCHITECTURES, WeightLoadingError, load_model
from paste.engine.models.metadata import AttentionMetadata, InvalidPlanError

__all__ = [
    "ARCHITECTURES",
    "AttentionMetadata",
    "InvalidPlanError",
    "ModelConfig",
    "UnsupportedModelError",
    "WeightLoadingError",
    "allocate_kv_cache",
    "kv_cache_bytes_per_block",
    "load_model",
]
