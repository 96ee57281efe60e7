"""The science workload's tools: numpy/scipy computations, each in a fresh Python subprocess.

    describe(dataset)                     read_only  summary statistics of a dataset
    fit(dataset, model)                   read_only  least-squares fit of a model curve
    integrate(model, params, lo, hi)      pure       integral of the fitted curve
    solve(model, params, target, lo, hi)  pure       t where the curve reaches target

A call runs `python -m paste.workloads.science_compute` (as a scientific agent's Python tool
runs a script): interpreter start, numpy/scipy import and the computation are the tool's real
latency (about a second of one core), so every tool is registered cpu_bound (speculation runs
one only while a cpu slot is free, paste.speculation.budget). `in_process=True` computes in
the calling thread instead (tests of exact outputs; milliseconds, so not cpu_bound).
Errors of the computation come back as the same typed errors (paste.workloads.errors).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from paste.workloads import errors, science_compute
from paste.workloads.toolbox import LiveToolBox


def _compute(op: str, arguments: dict[str, Any], in_process: bool, timeout_s: float) -> Any:
    if in_process:
        return science_compute.OPS[op](**arguments)
    done = subprocess.run(
        [sys.executable, "-m", "paste.workloads.science_compute"],
        input=json.dumps({"op": op, "arguments": arguments}), capture_output=True, text=True,
        timeout=timeout_s, env=dict(os.environ, PYTHONHASHSEED="0"), check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise errors.ComputationError(f"the computation crashed: {done.stderr.strip()[-300:]}")
    reply = json.loads(done.stdout)
    if "error" in reply:
        raise getattr(errors, reply["error"], errors.WorkloadToolError)(reply["message"])
    return reply["ok"]


def add_science_tools(box: LiveToolBox, in_process: bool = False, timeout_s: float = 60.0) -> None:
    """Register the four tools (module docstring)."""

    def describe(dataset: str) -> dict[str, Any]:
        """Summary statistics of a dataset of (t, y) measurements.

        Args:
            dataset: Dataset name, e.g. decay-3.
        """
        return _compute("describe", {"dataset": dataset}, in_process, timeout_s)

    def fit(dataset: str, model: str) -> dict[str, Any]:
        """Least-squares fit of a model curve to a dataset.

        Args:
            dataset: Dataset name.
            model: One of decay, growth, oscillation, trend.
        """
        return _compute("fit", {"dataset": dataset, "model": model}, in_process, timeout_s)

    def integrate(model: str, params: dict[str, float], lo: float, hi: float) -> dict[str, Any]:
        """Integral of a model curve between lo and hi.

        Args:
            model: Model name.
            params: The model's parameters, as returned by fit.
            lo: Lower bound.
            hi: Upper bound.
        """
        args = {"model": model, "params": params, "lo": lo, "hi": hi}
        return _compute("integrate", args, in_process, timeout_s)

    def solve(model: str, params: dict[str, float], target: float, lo: float,
              hi: float) -> dict[str, Any]:
        """The t in [lo, hi] where the model curve equals target.

        Args:
            model: Model name.
            params: The model's parameters, as returned by fit.
            target: The y value to reach.
            lo: Lower bound of the search.
            hi: Upper bound of the search.
        """
        args = {"model": model, "params": params, "target": target, "lo": lo, "hi": hi}
        return _compute("solve", args, in_process, timeout_s)

    box.add(describe, "read_only", timeout_s=timeout_s, cpu_bound=not in_process)
    box.add(fit, "read_only", timeout_s=timeout_s, cpu_bound=not in_process)
    box.add(integrate, "pure", timeout_s=timeout_s, cpu_bound=not in_process)
    box.add(solve, "pure", timeout_s=timeout_s, cpu_bound=not in_process)
