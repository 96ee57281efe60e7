"""Loading HF folders into paste's model code: config parsing and typed weight errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig
from transformers import LlamaForCausalLM as HFLlama

from paste.engine.models.config import ModelConfig, UnsupportedModelError
from paste.engine.models.kv_cache import allocate_kv_cache, kv_cache_bytes_per_block
from paste.engine.models.loader import WeightLoadingError, load_model

TINY = dict(
    vocab_size=32, hidden_size=16, intermediate_size=24, num_hidden_layers=1,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
)  # fmt: skip


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    HFLlama(LlamaConfig(**TINY, tie_word_embeddings=False)).save_pretrained(tmp_path)
    return tmp_path


def _rewrite(folder: Path, edit: object) -> None:
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    edit(tensors)  # type: ignore[operator]
    save_file(tensors, str(path), metadata={"format": "pt"})


def test_fused_projections_hold_the_checkpoint_slices(tiny_folder: Path) -> None:
    model = load_model(tiny_folder, backend="torch")
    tensors = load_file(str(tiny_folder / "model.safetensors"))
    qkv = model.model.layers[0].self_attn.qkv_proj.weight
    assert torch.equal(qkv[:16], tensors["model.layers.0.self_attn.q_proj.weight"])
    assert torch.equal(qkv[16:24], tensors["model.layers.0.self_attn.k_proj.weight"])
    assert torch.equal(qkv[24:], tensors["model.layers.0.self_attn.v_proj.weight"])
    gate_up = model.model.layers[0].mlp.gate_up_proj.weight
    assert torch.equal(gate_up[24:], tensors["model.layers.0.mlp.up_proj.weight"])
    assert torch.equal(model.lm_head.weight, tensors["lm_head.weight"])
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()


def test_tied_embeddings_share_one_matrix(tmp_path: Path) -> None:
    HFLlama(LlamaConfig(**TINY, tie_word_embeddings=True)).save_pretrained(tmp_path)
    model = load_model(tmp_path, backend="torch", dtype=torch.bfloat16)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert model.lm_head.weight.dtype == torch.bfloat16
    assert model.model.rotary.cos_cached.dtype == torch.float32  # tables stay float32


def test_missing_tensor(tiny_folder: Path) -> None:
    _rewrite(tiny_folder, lambda t: t.pop("model.layers.0.self_attn.k_proj.weight"))
    with pytest.raises(WeightLoadingError, match=r"lacks 1 tensors.*qkv_proj.weight"):
        load_model(tiny_folder, backend="torch")


def test_unknown_tensor(tiny_folder: Path) -> None:
    _rewrite(tiny_folder, lambda t: t.update({"model.extra.weight": torch.zeros(2)}))
    with pytest.raises(WeightLoadingError, match="'model.extra.weight' has no place"):
        load_model(tiny_folder, backend="torch")


def test_shape_mismatch(tiny_folder: Path) -> None:
    def shrink(t: dict[str, torch.Tensor]) -> None:
        t["model.layers.0.mlp.up_proj.weight"] = torch.zeros(23, 16)

    _rewrite(tiny_folder, shrink)
    with pytest.raises(WeightLoadingError, match=r"up_proj.weight: checkpoint shape \(23, 16\)"):
        load_model(tiny_folder, backend="torch")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architectures": ["GemmaForCausalLM"]}, "architecture 'GemmaForCausalLM'"),
        ({"rope_parameters": {"rope_type": "yarn", "factor": 4.0}}, "rope type 'yarn'"),
        ({"hidden_act": "gelu"}, "hidden_act 'gelu'"),
    ],
)
def test_unsupported_configs_are_rejected(
    tiny_folder: Path, change: dict[str, object], message: str
) -> None:
    config = json.loads((tiny_folder / "config.json").read_text())
    config.update(change)
    with pytest.raises(UnsupportedModelError, match=message):
        ModelConfig.from_dict(config)


def test_config_reads_both_rope_spellings_and_qwen2_bias() -> None:
    old = ModelConfig.from_dict({**TINY, "model_type": "qwen2", "rope_theta": 1e6})
    assert (old.architecture, old.rope_theta, old.attention_bias, old.head_dim) == (
        "Qwen2ForCausalLM",
        1e6,
        True,
        4,
    )
    new = ModelConfig.from_dict(
        {**TINY, "architectures": ["LlamaForCausalLM"], "eos_token_id": [2, 7],
         "rope_parameters": {"rope_type": "default", "rope_theta": 500.0}}
    )  # fmt: skip
    assert (new.rope_theta, new.attention_bias, new.eos_token_ids) == (500.0, False, (2, 7))


def test_qwen3_config_reads_its_head_dim_and_qk_norm_and_refuses_sliding_windows() -> None:
    raw = {**TINY, "model_type": "qwen3", "head_dim": 8, "attention_bias": False,
           "use_sliding_window": False, "layer_types": ["full_attention"],
           "rope_parameters": {"rope_type": "default", "rope_theta": 1e6}}
    qwen3 = ModelConfig.from_dict(raw)
    assert (qwen3.architecture, qwen3.head_dim, qwen3.qk_norm, qwen3.attention_bias,
            qwen3.rope_theta) == ("Qwen3ForCausalLM", 8, True, False, 1e6)
    assert ModelConfig.from_dict({**TINY, "model_type": "llama"}).qk_norm is False
    with pytest.raises(UnsupportedModelError, match="qwen3 sliding-window attention"):
        ModelConfig.from_dict({**raw, "use_sliding_window": True})
    with pytest.raises(UnsupportedModelError,
                       match=r"layer types \['full_attention', 'sliding_attention'\]"):
        ModelConfig.from_dict({**raw, "layer_types": ["full_attention", "sliding_attention"]})


def test_mistral_config_caps_the_context_at_its_sliding_window() -> None:
    """Within the window sliding-window attention is full attention (config.py)."""
    raw = {**TINY, "model_type": "mistral", "max_position_embeddings": 32768,
           "head_dim": 8, "rope_theta": 1e6}
    v01 = ModelConfig.from_dict({**raw, "sliding_window": 4096})
    assert (v01.architecture, v01.max_position_embeddings, v01.head_dim, v01.qk_norm,
            v01.attention_bias) == ("MistralForCausalLM", 4096, 8, False, False)
    assert ModelConfig.from_dict({**raw, "sliding_window": None}).max_position_embeddings == 32768
    assert ModelConfig.from_dict(raw).max_position_embeddings == 32768
    assert ModelConfig.from_dict({**raw, "sliding_window": 65536}).max_position_embeddings == 32768
    for bad in (0, -4, "4096", True):
        with pytest.raises(UnsupportedModelError, match="sliding_window must be a positive"):
            ModelConfig.from_dict({**raw, "sliding_window": bad})
    # qwen2 configs name a sliding_window they do not use (use_sliding_window false)
    qwen2 = ModelConfig.from_dict({**TINY, "model_type": "qwen2", "sliding_window": 8})
    assert qwen2.max_position_embeddings == 32


def test_a_qwen3_checkpoint_without_its_head_norms_is_refused(tmp_path: Path) -> None:
    from transformers import Qwen3Config
    from transformers import Qwen3ForCausalLM as HFQwen3

    HFQwen3(Qwen3Config(**TINY, head_dim=8)).save_pretrained(tmp_path)
    model = load_model(tmp_path, backend="torch")
    layer = model.model.layers[0].self_attn
    want = load_file(str(tmp_path / "model.safetensors"))
    assert torch.equal(layer.q_norm.weight, want["model.layers.0.self_attn.q_norm.weight"])
    assert torch.equal(layer.k_norm.weight, want["model.layers.0.self_attn.k_norm.weight"])
    _rewrite(tmp_path, lambda t: t.pop("model.layers.0.self_attn.k_norm.weight"))
    with pytest.raises(WeightLoadingError, match="k_norm"):
        load_model(tmp_path, backend="torch")


def test_kv_cache_layout_and_size() -> None:
    config = ModelConfig.from_dict({**TINY, "model_type": "llama", "num_hidden_layers": 3})
    caches = allocate_kv_cache(
        config, num_blocks=5, block_size=8, dtype=torch.bfloat16, device="cpu"
    )
    assert len(caches) == 3
    assert caches[0].shape == (2, 5, 8, 2, 4)
    assert int(caches[0].abs().sum()) == 0
    assert caches[0][0].is_contiguous() and caches[0][1].is_contiguous()
    assert kv_cache_bytes_per_block(config, 8, torch.bfloat16) == 3 * 2 * 8 * 2 * 4 * 2
