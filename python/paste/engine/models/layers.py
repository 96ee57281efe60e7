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
        # one fused op for the float32 statistics (bit-identical to x32 * rsqrt(mean(x32^2) +
        # eps)); the weight multiplies after the cast back, as HF rounds
        normed = nn.functional.rms_norm(x.float(), (x.shape[-1],), None, self.eps)
        return self.weight * normed.to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (rotate-half form, as HF llama/qwen2), with a cos/sin table
    precomputed for positions [0, max_positions); positions beyond it raise IndexError.

    For head_dim D, frequency i in [0, D/2) is theta^(-2i/D); element j and j + D/2 of a head
    are rotated together by angle position * freq[j mod D/2]:

        x * cos + rotate_half(x) * sin,   rotate_half(x) = (-x2, x1) for halves (x1, x2)
                                        = x * cos + (x2, x1) * (-sin1, sin2)

    so a step gathers cos and the signed sin once (`tables`, in the model's dtype) and each
    layer rotates its q and k with a swap of halves and two products (`rotate`): the same
    numbers as HF's form, in fewer ops.
    """

    def __init__(self, head_dim: int, max_positions: int, theta: float) -> None:
        super().__init__()
        self.head_dim, self.max_positions, self.theta = head_dim, max_positions, theta
        self.cos_cached: torch.Tensor
        self.sin_cached: torch.Tensor
        self.register_buffer("cos_cached", torch.empty(0), persistent=False)
        self.register_buffer("sin_cached", torch.empty(0), persistent=False)
        # (dtype, device) -> cos and signed sin tables in that dtype (`tables`)
        self._typed: dict[tuple[torch.dtype, torch.device],
                          tuple[torch.Tensor, torch.Tensor]] = {}
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
        self._typed.clear()

    def tables(self, positions: torch.Tensor, dtype: torch.dtype
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and the signed sin (-sin of the first half) [T, 1, D] in `dtype` for the
        token positions [T]: what `rotate` takes, the same for every layer of a step."""
        key = (dtype, self.cos_cached.device)
        typed = self._typed.get(key)
        if typed is None:
            half = self.head_dim // 2
            signed = torch.cat((-self.sin_cached[:, :half], self.sin_cached[:, half:]), dim=-1)
            typed = (self.cos_cached.to(dtype), signed.to(dtype))
            self._typed[key] = typed
        return typed[0][positions].unsqueeze(1), typed[1][positions].unsqueeze(1)

    @staticmethod
    def rotate(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
        """x [T, N, D] rotated by `tables`' cos and signed sin [T, 1, D]."""
        t, n, d = x.shape
        swapped = x.reshape(t, n, 2, d // 2).flip(-2).reshape(t, n, d)
        return x * cos + swapped * signed_sin

    def forward(
        self, positions: torch.Tensor, q: torch.Tensor, k: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate q [T, H, D] and k [T, KVH, D] by their token positions [T]."""
        cos, sin = self.tables(positions, q.dtype)
        return self.rotate(q, cos, sin), self.rotate(k, cos, sin)


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
