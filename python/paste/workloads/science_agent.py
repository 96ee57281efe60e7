"""The science workload's tasks and scripted agent: describe, fit (maybe twice), integrate, solve.

  1. describe(dataset);
  2. choose a model from the description: decreasing -> decay; sign changes -> oscillation;
     otherwise fit a straight trend first and, if its rmse exceeds MAX_TREND_RMSE, growth;
  3. integrate the fitted curve over the data's t range (params copied from the fit output);
  4. solve for a characteristic time: decay a/2 (half-life), growth L/2 (midpoint), trend the
     mean of y, oscillation the first zero (between 0 and pi / w);
  5. answer with the model, its parameters, the integral and the time.
Each call's thought reasons about the numbers just computed (paste.workloads.science_thoughts).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from paste.workloads import science_thoughts as think
from paste.workloads.datasets import FAMILIES
from paste.workloads.scripted import AgentProgram, Call, parse_json

MAX_TREND_RMSE = 0.2


@dataclass(frozen=True)
class ScienceTask:
    task_id: str
    dataset: str

    @property
    def question(self) -> str:
        return (f"Analyse dataset {self.dataset}: find the model that fits it, the area under "
                "the fitted curve and its characteristic time.")


def science_tasks(n: int, seed: int) -> list[ScienceTask]:
    rng = random.Random(seed)
    return [ScienceTask(f"science-{seed}-{i}", f"{rng.choice(FAMILIES)}-{rng.randrange(100)}")
            for i in range(n)]


def _target(model: str, params: dict, desc: dict) -> tuple[float, float, float]:
    lo, hi = desc["t_range"]
    if model == "decay":
        return params["a"] / 2, lo, hi
    if model == "growth":
        return params["L"] / 2, lo, hi
    if model == "oscillation":
        return 0.0, 0.0, round(math.pi / params["w"], 4)
    return desc["y_mean"], lo, hi


def science_agent(task: ScienceTask) -> AgentProgram:
    """The agent program of a task (module docstring)."""
    ds = task.dataset
    desc = parse_json((yield Call(think.describe_first(ds), "describe", {"dataset": ds})))
    if not isinstance(desc, dict):
        return f"I could not load {task.dataset}."
    if desc["monotone"] == "decreasing":
        model = "decay"
    elif desc["sign_changes"] > 0:
        model = "oscillation"
    else:
        model = "trend"
    fitted = parse_json((yield Call(think.choose_model(desc, model), "fit",
                                    {"dataset": ds, "model": model})))
    if model == "trend" and isinstance(fitted, dict) and fitted["rmse"] > MAX_TREND_RMSE:
        model = "growth"
        fitted = parse_json((yield Call(think.try_growth(desc, fitted, MAX_TREND_RMSE), "fit",
                                        {"dataset": ds, "model": model})))
    if not isinstance(fitted, dict):
        return f"The {model} fit failed."
    params = fitted["params"]
    lo, hi = desc["t_range"]
    area = parse_json((yield Call(think.integrate_fit(desc, fitted), "integrate",
                                  {"model": model, "params": params, "lo": lo, "hi": hi})))
    target, a, b = _target(model, params, desc)
    solved = parse_json((yield Call(think.solve_time(desc, model, area, target, a, b), "solve",
                                    {"model": model, "params": params, "target": target,
                                     "lo": a, "hi": b})))
    value = area["value"] if isinstance(area, dict) else "unknown"
    when = solved["t"] if isinstance(solved, dict) else "unknown"
    shown = ", ".join(f"{k} = {v}" for k, v in params.items())
    return f"Model {model} with {shown}; area {value}; characteristic time {when}."
