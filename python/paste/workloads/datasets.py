"""The science workload's datasets: seeded noisy measurements of four curve families.

A dataset is named `<family>-<variant>` (variant 0..99); its parameters and its Gaussian
noise come from numpy's PCG64 seeded with the variant, so a name always gives the same
numbers. 40 samples at t = 0, 10/39, ..., 10.

| family | y(t) | parameters by variant v |
|---|---|---|
| decay | a exp(-k t) | a = 2 + v % 7, k = 0.2 + 0.05 (v % 5) |
| growth | L / (1 + exp(-k (t - t0))) | L = 5 + v % 6, k = 0.8 + 0.1 (v % 4), t0 = 3 + v % 4 |
| oscillation | a exp(-g t) cos(w t) | a = 2 + v % 3, g = 0.1 + 0.05 (v % 3), w = 1.5 + 0.25 (v % 4) |
| trend | a t + b | a = 0.5 + 0.25 (v % 5), b = 1 + v % 3 |
"""

from __future__ import annotations

import numpy as np

from paste.workloads.errors import UnknownDatasetError

FAMILIES = ("decay", "growth", "oscillation", "trend")
NUM_SAMPLES = 40
NOISE = 0.05


def true_parameters(family: str, v: int) -> dict[str, float]:
    if family == "decay":
        return {"a": 2.0 + v % 7, "k": 0.2 + 0.05 * (v % 5)}
    if family == "growth":
        return {"L": 5.0 + v % 6, "k": 0.8 + 0.1 * (v % 4), "t0": 3.0 + v % 4}
    if family == "oscillation":
        return {"a": 2.0 + v % 3, "g": 0.1 + 0.05 * (v % 3), "w": 1.5 + 0.25 * (v % 4)}
    if family == "trend":
        return {"a": 0.5 + 0.25 * (v % 5), "b": 1.0 + v % 3}
    raise UnknownDatasetError(f"no dataset family {family!r}; known: {', '.join(FAMILIES)}")


def parse_name(name: str) -> tuple[str, int]:
    family, _, variant = name.partition("-")
    if family not in FAMILIES or not variant.isdigit() or not 0 <= int(variant) <= 99:
        raise UnknownDatasetError(
            f"no dataset {name!r}; names are <family>-<0..99> with family in {', '.join(FAMILIES)}"
        )
    return family, int(variant)


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(t, y) of dataset `name` (module docstring)."""
    from paste.workloads.science_models import MODELS

    family, v = parse_name(name)
    t = np.linspace(0.0, 10.0, NUM_SAMPLES)
    fn, names = MODELS[family]
    params = true_parameters(family, v)
    y = fn(t, *[params[p] for p in names])
    rng = np.random.Generator(np.random.PCG64(v))
    return t, y + rng.normal(0.0, NOISE, size=t.shape)
