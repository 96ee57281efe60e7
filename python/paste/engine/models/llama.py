"""paste's llama-family decoder (Llama, SmolLM2; qwen2 reuses it with q/k/v bias, qwen3
with an RMSNorm over each head of q and k before RoPE).

One forward runs a flat batch of T tokens from many sequences (prefill chunks and decodes
mixed) against the paged KV cache:

    embed -> N x [ RMSNorm -> qkv_proj -> (q/k head norms) -> RoPE -> backend.store_kv
                   -> backend.forward
                   -> o_proj -> +residual -> RMSNorm -> SiLU-gated MLP -> +residual ]
          -> RMSNorm -> (rows at logits_indices) -> lm_head

Parameter names mirror Hugging Face's, except q/k/v and gate/up are fused (qkv_proj,
gate_up_proj); paste.engine.models.loader maps checkpoint tensors onto the fused slices.
"""

from __future__ import annotations

import torch
from torch import nn

from paste.engine.attention import AttentionBackend
from paste.engine.models.config import ModelConfig
from paste.engine.models.layers import RMSNorm, RotaryEmbedding, SiluGatedMLP
from paste.engine.models.metadata import AttentionMetadata
from paste.engine.models.tuned_linear import TunedLinear
from paste.errors import InvalidArgumentError


class LlamaAttention(nn.Module):
    """Grouped-query self-attention over the paged KV cache of one layer."""

    def __init__(self, config: ModelConfig, rotary: RotaryEmbedding) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.q_size = self.num_heads * self.head_dim
        self.kv_size = self.num_kv_heads * self.head_dim
        self.qkv_proj = TunedLinear(
            config.hidden_size, self.q_size + 2 * self.kv_size, bias=config.attention_bias
        )
        self.o_proj = TunedLinear(self.q_size, config.hidden_size, bias=False)
        self.rotary = rotary
        # qwen3: each head of q and k is RMS-normalised (weights shared across heads)
        self.q_norm = RMSNorm(self.head_dim, config.rms_norm_eps) if config.qk_norm else None
        self.k_norm = RMSNorm(self.head_dim, config.rms_norm_eps) if config.qk_norm else None

    def forward(
        self,
        hidden: torch.Tensor,
        kv_cache: torch.Tensor,
        metadata: AttentionMetadata,
        backend: AttentionBackend,
        rope: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        """`rope`: the step's RotaryEmbedding.tables."""
        num_tokens = hidden.shape[0]
        qkv = self.qkv_proj(hidden)
        heads = self.num_heads
        v = qkv[:, self.q_size + self.kv_size:].reshape(
            num_tokens, self.num_kv_heads, self.head_dim).contiguous()
        if self.q_norm is not None and self.k_norm is not None:
            q = self.q_norm(qkv[:, :self.q_size].reshape(num_tokens, heads, self.head_dim))
            k = self.k_norm(qkv[:, self.q_size:self.q_size + self.kv_size].reshape(
                num_tokens, self.num_kv_heads, self.head_dim))
            q, k = self.rotary.rotate(q, *rope), self.rotary.rotate(k, *rope)
        else:  # q and k side by side in qkv: one rotation of both
            qk = self.rotary.rotate(qkv[:, :self.q_size + self.kv_size].reshape(
                num_tokens, heads + self.num_kv_heads, self.head_dim), *rope)
            q, k = qk[:, :heads], qk[:, heads:]
        k_cache, v_cache = kv_cache[0], kv_cache[1]
        backend.store_kv(k.contiguous(), v, k_cache, v_cache, metadata.slot_mapping)
        out = backend.forward(q.contiguous(), k_cache, v_cache, metadata)
        return self.o_proj(out.reshape(num_tokens, self.q_size))


class LlamaDecoderLayer(nn.Module):
    """Pre-norm attention block followed by a pre-norm MLP block, each with a residual."""

    def __init__(self, config: ModelConfig, rotary: RotaryEmbedding) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = LlamaAttention(config, rotary)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = SiluGatedMLP(config.hidden_size, config.intermediate_size, config.mlp_bias)

    def forward(
        self,
        hidden: torch.Tensor,
        kv_cache: torch.Tensor,
        metadata: AttentionMetadata,
        backend: AttentionBackend,
        rope: tuple[torch.Tensor, torch.Tensor],
    ) -> torch.Tensor:
        hidden = hidden + self.self_attn(self.input_layernorm(hidden), kv_cache, metadata,
                                         backend, rope)
        return hidden + self.mlp(self.post_attention_layernorm(hidden))


class LlamaModel(nn.Module):
    """Embedding, decoder layers and final norm (HF's `model.` prefix)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        rotary = RotaryEmbedding(config.head_dim, config.max_position_embeddings, config.rope_theta)
        self.rotary = rotary
        self.layers = nn.ModuleList(
            LlamaDecoderLayer(config, rotary) for _ in range(config.num_hidden_layers)
        )
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class LlamaForCausalLM(nn.Module):
    """A llama-family causal LM running on a paged KV cache through an attention backend.

    Construct with the parsed config and a backend (see paste.engine.attention), load weights
    with paste.engine.models.loader.load_model. Per step: `hidden = model(input_ids, kv_caches,
    metadata)` then `logits = model.compute_logits(hidden[metadata.logits_indices])`.
    """

    def __init__(self, config: ModelConfig, backend: AttentionBackend) -> None:
        super().__init__()
        self.config = config
        self.backend = backend
        self.model = LlamaModel(config)
        self.lm_head = TunedLinear(config.hidden_size, config.vocab_size, bias=False)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Share the embedding matrix with lm_head if the config ties them; call again after
        anything that may replace parameters (to_empty, device moves)."""
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        kv_caches: list[torch.Tensor],
        metadata: AttentionMetadata,
    ) -> torch.Tensor:
        """Hidden states [T, hidden_size] after the final norm for the T tokens of the plan.

        input_ids: [T] token ids; kv_caches: one tensor per layer from allocate_kv_cache;
        metadata: this step's plan. Writes the new K/V of every token with slot >= 0.
        """
        if len(kv_caches) != len(self.model.layers):
            raise InvalidArgumentError(
                f"need {len(self.model.layers)} kv caches, got {len(kv_caches)}"
            )
        self.backend.plan(metadata)
        hidden = self.model.embed_tokens(input_ids)
        rope = self.model.rotary.tables(metadata.positions, hidden.dtype)  # once per step
        for layer, kv_cache in zip(self.model.layers, kv_caches, strict=True):
            hidden = layer(hidden, kv_cache, metadata, self.backend, rope)
        return self.model.norm(hidden)

    def compute_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Float32 logits [m, vocab_size] for the selected hidden rows [m, hidden_size]."""
        return self.lm_head(hidden).float()
