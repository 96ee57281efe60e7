"""Building blocks shared by the llama, qwen2 and qwen3 families: RMSNorm, RoPE, SiLU-gated
MLP.

All three follow the Hugging Face reference numerics (float32 statistics in RMSNorm, cos/sin
computed in float32, rotate-half RoPE) so logits match transformers on the same weights.
"""

from __future__ import annotations

import torch
from torch import nn

from paste.engine.models.tuned_linear import TunedLinear


class RMSNorm(nn.Module):
    """y = weight * (x / sqrt(mean(x^2) + eps)); statistics in float32, output in x's dtype."""

    def __init__(self, hidden_size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (rotate-half form, as HF llama/qwen2), with a cos/sin table
    precomputed for positions [0, max_positions); positions beyond it raise IndexError.

    For head_dim D, frequency i in [0, D/2) is theta^(-2i/D); element j and j + D/2 of a head
    are rotated together by angle position * freq[j mod D/2].
    """

    def __init__(self, head_dim: int, max_positions: int, theta: float) -> None:
        super().__init__()
        self.head_dim, self.max_positions, self.theta = head_dim, max_positions, theta
        self.cos_cached: torch.Tensor
        self.sin_cached: torch.Tensor
        self.register_buffer("cos_cached", torch.empty(0), persistent=False)
        self.register_buffer("sin_cached", torch.empty(0), persistent=False)
        self.reset_tables()

    def reset_tables(self) -> None:
        """(Re)compute the float32 cos/sin tables on the module's current device; needed after
        building on the meta device or casting the module to a lower-precision dtype."""
        device = self.cos_cached.device
        if device.type == "meta":
            return
        exponents = torch.arange(0, self.head_dim, 2, dtype=torch.int64, device=device).float()
        inv_freq = 1.0 / (self.theta ** (exponents / self.head_dim))
        steps = torch.arange(self.max_positions, dtype=torch.float32, device=device)
        angles = torch.outer(steps, inv_freq)
        emb = torch.cat((angles, angles), dim=-1)
        self.cos_cached = emb.cos()
        self.sin_cached = emb.sin()

    @staticmethod
    def _rotate_half(x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def forward(
        self, positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate q [T, H, D] and k [T, KVH, D] by their token positions [T]."""
        cos = self.cos_cached[positions].to(q.dtype).unsqueeze(1)
        sin = self.sin_cached[positions].to(q.dtype).unsqueeze(1)
        q_rot = q * cos + self._rotate_half(q) * sin
        k_rot = k * cos + self._rotate_half(k) * sin
        return q_rot, k_rot


class SiluGatedMLP(nn.Module):
    """down(silu(gate(x)) * up(x)), with gate and up fused into one matmul (gate_up_proj)."""

    def __init__(self, hidden_size: int, intermediate_size: int, bias: bool) -> None:
        super().__init__()
        self.intermediate_size = intermediate_size
        self.gate_up_proj = TunedLinear(hidden_size, 2 * intermediate_size, bias=bias)
        self.down_proj = TunedLinear(intermediate_size, hidden_size, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).split(self.intermediate_size, dim=-1)
        return self.down_proj(nn.functional.silu(gate) * up)
