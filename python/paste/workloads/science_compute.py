"""The science workload's computations (numpy/scipy), in-process or as `python -m` of this module.

    describe(dataset)                          n, t range, y mean/std/min/max, monotone, sign changes
    fit(dataset, model)                        scipy.optimize.curve_fit -> params, rmse
    integrate(model, params, lo, hi)           scipy.integrate.quad of the model curve
    solve(model, params, target, lo, hi)       scipy.optimize.brentq: t with y(t) = target

Floats are rounded to 6 significant digits, so outputs are stable text. As a program it reads
`{"op": ..., "arguments": {...}}` on stdin and prints `{"ok": result}` or
`{"error": class name, "message": ...}` (exit code 0 either way).
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from paste.workloads import datasets
from paste.workloads.errors import ComputationError, UnknownDatasetError, WorkloadToolError
from paste.workloads.science_models import MODELS


def r6(x: float) -> float:
    return float(f"{float(x):.6g}")


def _model(name: str) -> tuple[Any, tuple[str, ...]]:
    if name not in MODELS:
        raise UnknownDatasetError(f"no model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def _curve(model: str, params: dict[str, float]) -> Any:
    fn, names = _model(model)
    missing = [p for p in names if p not in params]
    if missing:
        raise ComputationError(f"model {model} needs parameters {', '.join(names)}")
    values = [float(params[p]) for p in names]
    return lambda t: fn(t, *values)


def describe(dataset: str) -> dict[str, Any]:
    t, y = datasets.load(dataset)
    steps = np.diff(y)
    monotone = "increasing" if (steps > -0.2).all() else "decreasing" if (steps < 0.2).all() else "none"
    signs = np.sign(y[np.abs(y) > 0.1])
    return {"dataset": dataset, "n": int(t.size), "t_range": [r6(t[0]), r6(t[-1])],
            "y_mean": r6(y.mean()), "y_std": r6(y.std()), "y_min": r6(y.min()),
            "y_max": r6(y.max()), "y_first": r6(y[0]), "y_last": r6(y[-1]),
            "monotone": monotone, "sign_changes": int((np.diff(signs) != 0).sum())}


def fit(dataset: str, model: str) -> dict[str, Any]:
    from scipy.optimize import curve_fit

    fn, names = _model(model)
    t, y = datasets.load(dataset)
    guess = {"decay": [y[0], 0.3], "growth": [y.max(), 1.0, 5.0],
             "oscillation": [y[0], 0.1, 2.0], "trend": [1.0, 0.0]}[model]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(fn, t, y, p0=guess, maxfev=5000)
    except RuntimeError as exc:
        raise ComputationError(f"fit of {model} to {dataset} did not converge: {exc}") from None
    rmse = float(np.sqrt(np.mean((fn(t, *popt) - y) ** 2)))
    return {"dataset": dataset, "model": model,
            "params": {n: r6(v) for n, v in zip(names, popt, strict=True)}, "rmse": r6(rmse)}


def integrate(model: str, params: dict[str, float], lo: float, hi: float) -> dict[str, Any]:
    from scipy.integrate import quad

    if not hi > lo:
        raise ComputationError(f"need lo < hi, got lo={lo}, hi={hi}")
    value, err = quad(_curve(model, params), lo, hi)
    return {"model": model, "lo": lo, "hi": hi, "value": r6(value), "abserr": r6(err)}


def solve(model: str, params: dict[str, float], target: float, lo: float, hi: float) -> dict[str, Any]:
    from scipy.optimize import brentq

    curve = _curve(model, params)
    a, b = float(curve(lo)) - target, float(curve(hi)) - target
    if not hi > lo or a * b > 0:
        raise ComputationError(f"y(t) - {target} has no sign change on [{lo}, {hi}]")
    return {"model": model, "target": target, "t": r6(brentq(lambda t: curve(t) - target, lo, hi))}


OPS: dict[str, Callable[..., Any]] = {"describe": describe, "fit": fit, "integrate": integrate, "solve": solve}


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        print(json.dumps({"ok": OPS[request["op"]](**request["arguments"])}))
    except WorkloadToolError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
