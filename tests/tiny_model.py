"""Builds small randomly initialised models (llama, qwen2 or qwen3 family) with a real trained
byte-level BPE tokenizer and a ChatML chat template, as a HF-format folder: what the engine
tests load instead of a downloaded model. Deterministic for a given seed."""

from __future__ import annotations

from pathlib import Path

import torch

CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome.",
    "def add(a, b):\n    return a + b\n",
    '{"name": "search", "arguments": {"query": "weather in Paris"}}',
    "Hello there! How can I help you today? I can search, read files and compute.",
    "<tool_call> </tool_call> tool results: 42, 3.14, true, false, null",
] * 4

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(folder: Path, special: tuple[str, ...] = ()):
    """The tiny BPE tokenizer; `special`: more special (control) tokens, such as Mistral's
    `[TOOL_CALLS]`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>",
                                        *special],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   bos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    return fast


def build_tiny_model(folder: Path, arch: str = "llama", seed: int = 0,
                     special: tuple[str, ...] = ()) -> Path:
    """Writes config.json, model.safetensors and tokenizer files into `folder` (`special`:
    more special tokens of the tokenizer)."""
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
        Qwen3Config,
        Qwen3ForCausalLM,
    )

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder, special)
    common = dict(vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96,
                  num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
                  max_position_embeddings=512, rms_norm_eps=1e-5,
                  eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=True))
    elif arch == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=False))
    else:  # qwen3: q/k head norms, a head_dim that is not hidden_size / heads
        model = Qwen3ForCausalLM(Qwen3Config(**common, head_dim=16, tie_word_embeddings=True))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen) * 0.3
            param.copy_(1.0 + noise if name.endswith("norm.weight") else noise)
    model.eval()
    model.save_pretrained(folder)
    return folder


def make_tiny_engine(folder: Path, **kw):
    """An Engine on a tiny model folder with small test settings (torch attention, 4-token
    blocks, 256 blocks, 64-token steps, one thread); `kw` overrides or adds EngineConfig
    fields."""
    from paste.engine.engine import Engine

    settings = {"attention_backend": "torch", "block_size": 4, "num_blocks": 256,
                "max_num_batched_tokens": 64, "num_threads": 1, **kw}
    return Engine(str(folder), **settings)
