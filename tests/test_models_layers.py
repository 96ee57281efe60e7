"""The shared decoder blocks (engine/models/layers.py) compute exactly Hugging Face's formulas:
RMSNorm's float32 statistics with the weight applied after the cast back, and RoPE's
rotate-half form, which `RotaryEmbedding.rotate` computes with a swap of halves and a signed
sin table gathered once per step. Exact equality, in float32 and bfloat16."""

from __future__ import annotations

import pytest
import torch

from paste.engine.models.layers import RMSNorm, RotaryEmbedding


def hf_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    x32 = x.float()
    x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x32.to(x.dtype)


def hf_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@torch.inference_mode()
def test_rms_norm_is_the_reference_formula_bit_for_bit(dtype):
    torch.manual_seed(0)
    for size in (64, 576):
        norm = RMSNorm(size, 1e-6)
        norm.weight.copy_(torch.randn(size) * 0.5 + 1.0)
        norm = norm.to(dtype)
        x = (torch.randn(257, size) * 3).to(dtype)
        assert torch.equal(norm(x), hf_rms_norm(x, norm.weight, 1e-6))
        heads = x[:, :64].reshape(257, 1, 64)  # per-head norms (qwen3's q/k) take 3-d input
        small = RMSNorm(64, 1e-6).to(dtype)
        assert torch.equal(small(heads), hf_rms_norm(heads, small.weight, 1e-6))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@torch.inference_mode()
def test_rope_rotation_is_the_rotate_half_form_bit_for_bit(dtype):
    torch.manual_seed(0)
    rope = RotaryEmbedding(64, 4096, 10000.0)
    positions = torch.tensor([0, 1, 7, 100, 4095])
    cos_ref = rope.cos_cached[positions].to(dtype).unsqueeze(1)
    sin_ref = rope.sin_cached[positions].to(dtype).unsqueeze(1)
    cos, sin = rope.tables(positions, dtype)
    assert cos.shape == sin.shape == (5, 1, 64) and cos.dtype == sin.dtype == dtype
    assert torch.equal(cos, cos_ref)
    assert torch.equal(sin[..., :32], -sin_ref[..., :32])
    assert torch.equal(sin[..., 32:], sin_ref[..., 32:])
    fused = torch.randn(5, 9 * 64 + 2 * 3 * 64).to(dtype)  # a qkv row: q and k side by side
    qk = fused[:, :12 * 64].reshape(5, 12, 64)  # a strided view, as the attention passes it
    assert torch.equal(RotaryEmbedding.rotate(qk, cos, sin), hf_rope(qk, cos_ref, sin_ref))
    q, k = qk[:, :9], qk[:, 9:]
    got_q, got_k = rope(positions, q, k)
    assert torch.equal(got_q, hf_rope(q, cos_ref, sin_ref))
    assert torch.equal(got_k, hf_rope(k, cos_ref, sin_ref))


def test_rope_tables_follow_a_reset_and_a_position_past_the_table_raises():
    rope = RotaryEmbedding(8, 16, 10000.0)
    cos, _ = rope.tables(torch.tensor([3]), torch.float32)
    rope.theta = 500.0
    rope.reset_tables()  # the typed tables are rebuilt from the new ones
    again, _ = rope.tables(torch.tensor([3]), torch.float32)
    assert torch.equal(again[0, 0], rope.cos_cached[3]) and not torch.equal(again, cos)
    with pytest.raises(IndexError):
        rope.tables(torch.tensor([16]), torch.float32)
