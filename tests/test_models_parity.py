"""paste's llama, mistral, qwen2 and qwen3 model code against transformers on random tiny checkpoints.

Each architecture is saved with save_pretrained, loaded by paste, and run as a continuous
batch of two sequences over scattered paged-KV blocks: A prefills in two chunks then
decodes, B prefills at once then decodes, and every step's logits must equal transformers'
full-sequence (teacher-forced) logits at the same positions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config
from transformers import LlamaForCausalLM as HFLlama
from transformers import MistralForCausalLM as HFMistral
from transformers import Qwen2ForCausalLM as HFQwen2
from transformers import Qwen3ForCausalLM as HFQwen3

from paste.engine.attention import (
    AttentionBackendUnavailableError,
    resolve_attention_backend_name,
)
from paste.engine.models.kv_cache import allocate_kv_cache
from paste.engine.models.llama import LlamaForCausalLM
from paste.engine.models.loader import load_model
from paste.engine.models.metadata import AttentionMetadata
from paste.engine.models.qwen2 import Qwen2ForCausalLM
from paste.engine.models.qwen3 import Qwen3ForCausalLM

VOCAB, BS = 101, 4
COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=48,
    intermediate_size=80,
    num_hidden_layers=2,
    num_attention_heads=6,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rms_norm_eps=1e-5,
)


def _randomise(model: torch.nn.Module) -> None:
    """HF init leaves biases at 0 and norms at 1, which would hide loading mistakes."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator) * 0.3
            param.copy_(1.0 + noise if name.endswith("norm.weight") else noise)


def _save(tmp_path: Path, arch: str) -> tuple[Path, torch.nn.Module]:
    if arch == "llama":
        config = LlamaConfig(**COMMON, rope_theta=500.0, tie_word_embeddings=True)
        hf: torch.nn.Module = HFLlama(config)
    elif arch == "mistral":  # a window longer than the test's sequences, as Mistral 7B v0.1
        config = MistralConfig(**COMMON, rope_theta=1e6, tie_word_embeddings=False,
                               sliding_window=32)
        hf = HFMistral(config)
    elif arch == "qwen2":
        config = Qwen2Config(**COMMON, rope_theta=20000.0, tie_word_embeddings=False)
        hf = HFQwen2(config)
    else:  # qwen3: head_dim 16, not hidden_size / heads = 8, as in real qwen3 configs
        config = Qwen3Config(**COMMON, head_dim=16, rope_theta=1e6, tie_word_embeddings=True)
        hf = HFQwen3(config)
    _randomise(hf)
    hf.eval()
    hf.save_pretrained(tmp_path)
    return tmp_path, hf


# (num_computed, num_new) of sequences A and B at each step; 0 new = not scheduled.
STEPS = [
    ((0, 4), (0, 6)),
    ((4, 5), (6, 1)),
    ((9, 1), (7, 1)),
    ((10, 1), (8, 1)),
    ((11, 1), (9, 1)),
    ((12, 1), (10, 0)),
]
TABLES = {"A": [9, 2, 5, 0], "B": [7, 1, 8]}


@pytest.mark.parametrize("backend", ["torch", "cpu"])
@pytest.mark.parametrize(
    ("arch", "cls"),
    [("llama", LlamaForCausalLM), ("mistral", LlamaForCausalLM), ("qwen2", Qwen2ForCausalLM),
     ("qwen3", Qwen3ForCausalLM)],
)
def test_prefill_chunked_prefill_and_decode_match_transformers(
    tmp_path: Path, arch: str, cls: type, backend: str
) -> None:
    """backend "cpu" (the C++ kernel) is skipped until the native core provides it."""
    try:
        resolve_attention_backend_name(backend, "cpu", torch.float32)
    except AttentionBackendUnavailableError as exc:
        pytest.skip(str(exc))
    folder, hf = _save(tmp_path, arch)
    model = load_model(folder, backend=backend)
    assert model.backend.name == backend
    assert type(model) is cls
    assert model.config.tie_word_embeddings == (arch in ("llama", "qwen3"))
    assert model.config.qk_norm == (arch == "qwen3")
    gen = torch.Generator().manual_seed(1)
    tokens = {
        "A": torch.randint(0, VOCAB, (13,), generator=gen),
        "B": torch.randint(0, VOCAB, (10,), generator=gen),
    }
    with torch.no_grad():
        expected = {s: hf(tokens[s][None]).logits[0] for s in tokens}
    caches = allocate_kv_cache(
        model.config, num_blocks=10, block_size=BS, dtype=torch.float32, device="cpu"
    )
    for step in STEPS:
        seqs = [(s, c, n) for s, (c, n) in zip("AB", step, strict=True) if n > 0]
        md = AttentionMetadata.from_block_tables(
            block_size=BS,
            block_tables=[TABLES[s][: (c + n + BS - 1) // BS] for s, c, n in seqs],
            num_computed_tokens=[c for _, c, _ in seqs],
            num_new_tokens=[n for _, _, n in seqs],
        )
        input_ids = torch.cat([tokens[s][c : c + n] for s, c, n in seqs])
        with torch.no_grad():
            hidden = model(input_ids, caches, md)
            logits = model.compute_logits(hidden)
            sampled_rows = model.compute_logits(hidden[md.logits_indices])
        want = torch.cat([expected[s][c : c + n] for s, c, n in seqs])
        torch.testing.assert_close(logits, want, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(sampled_rows, logits[md.logits_indices])
        assert logits.dtype == torch.float32
