"""TunedLinear: nn.Linear whose CPU matmul orientation is chosen per row count by measurement.

A decode step multiplies a few rows (one per sequence, or per draft token) by each weight.
With torch's CPU BLAS the product x @ W.T and the same product computed as (W @ x.T).T take
different kernels, and which is faster depends on the row count: on this machine (MKL, AVX512,
2 cores, qwen2.5-0.5b) F.linear is 2x faster at 1-3 rows, while from 4 rows on the other
orientation is 1.4-1.6x faster (lm_head, 151936 x 896, 8 rows: 61 vs 39 ms; gate_up, 9728 x
896: 1.8 vs 1.3 ms). That depends on the BLAS, the CPU and the shape, so it is measured, not
assumed: `tune_linears(model)` times both orientations for each distinct weight shape at row
counts 1..64 once after loading, and each layer then uses the flipped one for its input's row
count (nearest measured count below it) only where it was clearly faster (MIN_GAIN). One row
(a batch-1 decode step) has a third kernel: the matrix-vector product W @ x (torch.mv), which
in bfloat16 on this machine is 1.3-1.6x faster than either matmul (smollm2-135m's layer
shapes: 41-129 us against 55-187 us; oneDNN's bf16 matmul does not reach the memory
bandwidth with one row); it is measured too and used where clearly faster (`row_vector`).
Above 64 rows, on GPUs and before tuning, forward is plain F.linear. All compute the same
dot products; results may differ in the last bits (summation order), as they already do
between batch sizes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

ROW_COUNTS = (1, 2, 3, 4, 6, 8, 16, 32, 64)  # measured; others use the one below
# The flipped orientation is used only when it measured at least this much faster: small
# shapes take microseconds, where timing noise alone gives either orientation a few percent
# (smollm2-135m, 2 repeats, no margin: decode 7% slower in the model at batch 4-16).
MIN_GAIN = 0.15


class LinearPlan(NamedTuple):
    """A weight shape's kernels: rows_transposed[m] for m rows; row_vector for one row."""

    rows_transposed: tuple[bool, ...]
    row_vector: bool


class TunedLinear(nn.Linear):
    """nn.Linear plus `rows_transposed[m]`: compute an m-row input as (W @ x.T).T, and
    `row_vector`: compute a one-row input as W @ x."""

    rows_transposed: tuple[bool, ...] = ()  # index = row count; empty until tuned
    row_vector: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.shape[0]
        if x.dim() != 2 or m >= len(self.rows_transposed):
            return nn.functional.linear(x, self.weight, self.bias)
        if m == 1 and self.row_vector:
            return vector_linear(x, self.weight, self.bias)
        if self.rows_transposed[m]:
            return transposed_linear(x, self.weight, self.bias)
        return nn.functional.linear(x, self.weight, self.bias)


def vector_linear(x: torch.Tensor, weight: torch.Tensor,
                  bias: torch.Tensor | None) -> torch.Tensor:
    """x @ weight.T + bias for one row x [1, in], computed as the product W @ x[0]."""
    if bias is None:
        return torch.mv(weight, x[0]).unsqueeze(0)
    return torch.addmv(bias, weight, x[0]).unsqueeze(0)


def transposed_linear(x: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor | None) -> torch.Tensor:
    """x @ weight.T + bias, computed as (weight @ x.T).T (contiguous)."""
    if bias is None:
        return torch.mm(weight, x.t()).t().contiguous()
    return torch.addmm(bias.unsqueeze(1), weight, x.t()).t().contiguous()


def _best_of(fn: Callable[..., torch.Tensor], args: tuple, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


@torch.inference_mode()
def measure(weight: torch.Tensor, bias: torch.Tensor | None,
            repeats: int = 3) -> dict[int, bool]:
    """For each of ROW_COUNTS, whether (W @ x.T).T beat F.linear by MIN_GAIN (best of
    `repeats` each, after one warm-up of both)."""
    out = {}
    for i, m in enumerate(ROW_COUNTS):
        args = (torch.randn(m, weight.shape[1], dtype=weight.dtype, device=weight.device),
                weight, bias)
        if i == 0:
            nn.functional.linear(*args)
            transposed_linear(*args)
        out[m] = (_best_of(transposed_linear, args, repeats)
                  < (1.0 - MIN_GAIN) * _best_of(nn.functional.linear, args, repeats))
    return out


@torch.inference_mode()
def measure_vector(weight: torch.Tensor, bias: torch.Tensor | None, transposed: bool,
                   repeats: int = 3) -> bool:
    """Whether W @ x beat, at one row, the matmul the row plan uses there (`transposed`) by
    MIN_GAIN (best of `repeats` each, after one warm-up of both)."""
    args = (torch.randn(1, weight.shape[1], dtype=weight.dtype, device=weight.device),
            weight, bias)
    matmul = transposed_linear if transposed else nn.functional.linear
    matmul(*args)
    vector_linear(*args)
    return _best_of(vector_linear, args, repeats) < (1.0 - MIN_GAIN) * _best_of(
        matmul, args, repeats)


def plan_rows(wins: dict[int, bool]) -> tuple[bool, ...]:
    """rows_transposed for row counts 0..max(ROW_COUNTS): each count takes the verdict of the
    nearest measured count at or below it."""
    plan = [False]
    for m in range(1, max(ROW_COUNTS) + 1):
        below = max(c for c in wins if c <= m)
        plan.append(wins[below])
    return tuple(plan)


def tune_linears(model: nn.Module, repeats: int = 3) -> dict[tuple[int, int], LinearPlan]:
    """Measures each distinct (shape, dtype, bias or not) of the model's TunedLinear layers on
    their device (CPU only; elsewhere nothing changes) and sets their rows_transposed and
    row_vector. Returns the plan per weight shape."""
    groups: dict[tuple, list[TunedLinear]] = {}
    for module in model.modules():
        if isinstance(module, TunedLinear) and module.weight.device.type == "cpu":
            key = (tuple(module.weight.shape), module.weight.dtype, module.bias is not None)
            groups.setdefault(key, []).append(module)
    plans = {}
    for (shape, _dtype, _bias), layers in groups.items():
        first = layers[0]
        rows = plan_rows(measure(first.weight, first.bias, repeats))
        plan = LinearPlan(rows, measure_vector(first.weight, first.bias, rows[1], repeats))
        for layer in layers:
            layer.rows_transposed, layer.row_vector = plan
        plans[(shape[0], shape[1])] = plan
    return plans
