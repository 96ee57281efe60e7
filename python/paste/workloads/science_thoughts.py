"""The science agent's thoughts: what it reasons before each call, from what it just computed.

Each builder gets the real output the agent just received (the description's statistics, the
fitted parameters and rmse, the integral) and states what a data-analysis agent would: the
shape of the data and the model it suggests, whether the fit is good (rmse against the data's
spread), what the parameters imply, whether the area agrees with the data's mean, and which
equation the characteristic time solves. Numbers are quoted as the tools printed them; derived
ones have 3 significant digits (scripted.num). About 200-600 characters (docs/workloads.md).
"""

from __future__ import annotations

import math
from typing import Any

from paste.workloads.scripted import num

FORMULAS = {
    "decay": "y = a exp(-k t)",
    "growth": "y = L / (1 + exp(-k (t - t0)))",
    "oscillation": "y = a exp(-g t) cos(w t)",
    "trend": "y = a t + b",
}


def describe_first(dataset: str) -> str:
    return (f"The task is to model dataset {dataset}, then report the area under the fitted "
            "curve and its characteristic time. Which curve to fit depends on the data's "
            "shape: whether y rises or falls, whether it crosses zero, how far it spreads. "
            "describe reports the t range, the y statistics, monotonicity and sign changes, so "
            "I will look at those before choosing a model.")


def choose_model(desc: dict[str, Any], model: str) -> str:
    lo, hi = desc["t_range"]
    first, last = desc["y_first"], desc["y_last"]
    shape = (f"{desc['dataset']} has {desc['n']} points for t from {lo} to {hi}; y goes from "
             f"{first} to {last} (min {desc['y_min']}, max {desc['y_max']}, mean "
             f"{desc['y_mean']}, std {desc['y_std']}), monotone: {desc['monotone']}, "
             f"{desc['sign_changes']} sign changes.")
    if model == "decay":
        why = (f"It only falls, to {num(last / first) if first else '?'} of its first value, "
               f"and stays positive, as exponential decay {FORMULAS['decay']} does; fitting "
               f"decay, with a expected near {first}.")
    elif model == "oscillation":
        why = (f"It crosses zero {desc['sign_changes']} times, so it swings around zero; a "
               f"damped cosine {FORMULAS['oscillation']} is the natural model, with w near "
               f"pi times {desc['sign_changes']} over the range, about "
               f"{num(math.pi * desc['sign_changes'] / (hi - lo))}.")
    else:
        why = (f"It changes by {num(last - first)} over the range without crossing zero. The "
               f"simplest candidate is a straight line {FORMULAS['trend']}, slope about "
               f"{num((last - first) / (hi - lo))}; if its rmse is small the line is the model.")
    return f"{shape} {why}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in params.items())


def try_growth(desc: dict[str, Any], fitted: dict[str, Any], max_rmse: float) -> str:
    return (f"The straight line gives {_params(fitted['params'])}, but its rmse is "
            f"{fitted['rmse']}, above the {max_rmse} I accept (the data's std is "
            f"{desc['y_std']}), so the residuals are systematic: the data bend. A rise from "
            f"{desc['y_first']} that levels off towards the maximum {desc['y_max']} looks "
            f"logistic, {FORMULAS['growth']}; fitting growth, with L expected near "
            f"{desc['y_max']}.")


def _implication(model: str, p: dict[str, Any]) -> str:
    if model == "decay" and p.get("k"):
        return f"The rate k = {p['k']} means the curve halves every ln 2 / k = {num(math.log(2) / p['k'])}."
    if model == "growth":
        return f"The midpoint t0 = {p.get('t0')} is where the curve reaches half of L = {p.get('L')}."
    if model == "oscillation" and p.get("w"):
        return (f"w = {p['w']} gives a period 2 pi / w = {num(2 * math.pi / p['w'])} and the "
                f"envelope decays at g = {p.get('g')}.")
    return f"The line changes by {p.get('a')} per unit of t, starting from {p.get('b')} at t = 0."


def integrate_fit(desc: dict[str, Any], fitted: dict[str, Any]) -> str:
    rmse, std = fitted["rmse"], desc["y_std"]
    ratio = rmse / std if std else math.inf
    quality = "closely" if ratio < 0.1 else "reasonably" if ratio < 0.3 else "only roughly"
    share = f"{num(100 * ratio)}% of the data's std {std}" if std else f"with std {std}"
    lo, hi = desc["t_range"]
    return (f"The {fitted['model']} fit gives {_params(fitted['params'])} with rmse {rmse}, "
            f"{share}, so the curve follows the data {quality}. "
            f"{_implication(fitted['model'], fitted['params'])} Next, the area under the "
            f"fitted curve over the data's range, t from {lo} to {hi}, by numerical "
            "integration with these parameters.")


def solve_time(desc: dict[str, Any], model: str, area: Any, target: float, lo: float,
               hi: float) -> str:
    if isinstance(area, dict):
        t_lo, t_hi = desc["t_range"]
        mean = area["value"] / (t_hi - t_lo) if t_hi > t_lo else area["value"]
        got = (f"The integral from {t_lo} to {t_hi} is {area['value']} (error estimate "
               f"{area['abserr']}); over the range that is an average height of {num(mean)}, "
               f"against the data's mean {desc['y_mean']} (a difference of "
               f"{num(mean - desc['y_mean'])}).")
    else:
        got = "The integration failed, so I report the area as unknown."
    goal = {
        "decay": f"the half-life, where y falls to a/2 = {num(target)}",
        "growth": f"the midpoint, where y reaches L/2 = {num(target)}",
        "oscillation": "the first zero of the cosine, where y = 0",
        "trend": f"the time the line reaches the data's mean, y = {target}",
    }[model]
    return (f"{got} The characteristic time of the {model} curve is {goal}; I will solve for "
            f"that t with a bracketing root finder between {lo} and {hi}.")
