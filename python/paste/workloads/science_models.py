"""The curve models of the science workload, by name: y(t, *params) and their parameter names."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def decay(t: np.ndarray, a: float, k: float) -> np.ndarray:
    return a * np.exp(-k * t)


def growth(t: np.ndarray, L: float, k: float, t0: float) -> np.ndarray:  # noqa: N803
    return L / (1.0 + np.exp(-k * (t - t0)))


def oscillation(t: np.ndarray, a: float, g: float, w: float) -> np.ndarray:
    return a * np.exp(-g * t) * np.cos(w * t)


def trend(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return a * t + b


MODELS: dict[str, tuple[Callable[..., np.ndarray], tuple[str, ...]]] = {
    "decay": (decay, ("a", "k")),
    "growth": (growth, ("L", "k", "t0")),
    "oscillation": (oscillation, ("a", "g", "w")),
    "trend": (trend, ("a", "b")),
}
