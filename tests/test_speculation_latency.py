"""Measured tool latency in admission (ToolLatency) and the waste price of the value check:
exact estimates, the prior scaling, the manager learning from the jobs it starts, and the
decisions they change."""

from __future__ import annotations

import math
import threading
import time

import pytest

from paste.errors import InvalidArgumentError
from paste.parsing import canonical_call
from paste.speculation import (
    AdmissionPolicy,
    Candidate,
    SpeculationBudget,
    SpeculationConfig,
    SpeculationManager,
    ToolLatency,
    latency_kind,
)
from paste.tools import ToolRegistry


def test_estimate_is_the_weighted_mean_of_measurements():
    lat = ToolLatency(alpha=0.5)
    assert lat.estimate("get", 0.05) == 0.05  # nothing measured: the prior
    lat.observe("get", 0.4)
    assert lat.estimate("get", 0.05) == 0.4
    lat.observe("get", 0.2)
    assert lat.estimate("get", 0.05) == pytest.approx(0.3)
    assert lat.count("get") == 2 and lat.count("other") == 0


def test_unmeasured_kind_gets_its_prior_scaled_like_the_measured_ones():
    lat = ToolLatency(alpha=1.0)
    assert lat.scale() == 1.0
    lat.estimate("a", 0.05)  # priors as the predictor gave them
    lat.estimate("b", 0.1)
    lat.observe("a", 0.4)  # 8x its prior
    lat.observe("b", 0.2)  # 2x its prior
    lat.observe("c", 9.0)  # no prior known: not part of the scale
    assert lat.scale() == pytest.approx(math.sqrt(8 * 2))
    assert lat.estimate("d", 0.05) == pytest.approx(0.05 * 4.0)
    assert lat.estimate("d", None) is None  # a missing estimate stays missing (fail closed)


def test_latency_kind_splits_bash_by_command_head():
    assert latency_kind("bash", {"command": "cat a.py"}) == "bash:cat"
    assert latency_kind("bash", {"command": "python -m pytest -x"}) == latency_kind(
        "bash", {"command": "python -m pytest tests"})
    assert latency_kind("get_user", {"user_id": "u1"}) == "get_user"


def test_bad_values_are_refused():
    with pytest.raises(InvalidArgumentError):
        ToolLatency(alpha=0.0)
    with pytest.raises(InvalidArgumentError):
        ToolLatency().observe("x", -1.0)
    with pytest.raises(InvalidArgumentError):
        SpeculationConfig(waste_price=-0.1)
    with pytest.raises(InvalidArgumentError):
        SpeculationConfig(waste_price=float("nan"))


def _cand(p: float, lat: float, until: float = 1.0) -> Candidate:
    return Candidate("get", {}, canonical_call("get", {}), p, lat, until)


def test_waste_price_decides_exactly_at_the_break_even_probability():
    reg = ToolRegistry()

    @reg.tool(effect="read_only")
    def get() -> str:
        return ""

    spec = reg.get("get")
    # value = p * 1 - w * (1 - p) * 1 - 0: with w = 0.25 positive iff p > 0.2
    policy = AdmissionPolicy(SpeculationBudget(8), waste_price=0.25)
    below = policy.decide(_cand(0.19, 1.0), spec, 0.0)
    above = policy.decide(_cand(0.21, 1.0), spec, 0.0)
    assert (below.admitted, below.reason) == (False, "value")
    assert below.net_value_s == pytest.approx(0.19 - 0.25 * 0.81)
    assert (above.admitted, above.net_value_s) == (True, pytest.approx(0.21 - 0.25 * 0.79))
    free = AdmissionPolicy(SpeculationBudget(8), waste_price=0.0)
    assert free.decide(_cand(0.19, 1.0), spec, 0.0).admitted


@pytest.fixture
def world(tool_world):
    reg, log = tool_world.reg, tool_world.log

    @reg.tool(effect="read_only", timeout_s=10)
    def lookup(key: str) -> str:
        log(key)
        threading.Event().wait(0.05)  # a 50 ms backend
        return f"value of {key}"

    return reg, tool_world.executor, tool_world.runs


def _measured(latency: ToolLatency, kind: str, n: int) -> int:
    """latency.count(kind) once it reaches n (or after 5 s): a job's future wakes its waiters
    before its done-callbacks run, and the measurement is one of those callbacks."""
    deadline = time.monotonic() + 5.0
    while latency.count(kind) < n and time.monotonic() < deadline:
        time.sleep(0.001)
    return latency.count(kind)


def _lookup(key: str, p: float, lat: float) -> Candidate:
    args = {"key": key}
    return Candidate("lookup", args, canonical_call("lookup", args), p, lat, 1.0)


def test_manager_learns_from_authoritative_runs_and_admits_by_the_measurement(world):
    reg, executor, runs = world
    config = SpeculationConfig(min_probability=0.0, waste_price=0.0, coordination_cost_s=0.004)
    m = SpeculationManager(reg, executor, config)
    # The predictor's guess (1 ms) makes the call not worth a 4 ms coordination cost ...
    assert m.speculate("s", [_lookup("a", 0.5, 0.001)]) == []
    assert m.metrics.snapshot("s")["rejected"] == {"value": 1}
    # ... until an authoritative run measures ~50 ms: the same guess now passes.
    out = m.resolve("s", "c1", "lookup", {"key": "z"}, canonical_call("lookup", {"key": "z"}))
    assert out.result(5).ok
    assert _measured(m.latency, "lookup", 1) == 1
    assert m.latency.estimate("lookup", 0.001) >= 0.05
    assert m.speculate("s", [_lookup("a", 0.5, 0.001)]) == [canonical_call("lookup", {"key": "a"})]
    m.staging.jobs("s")[0].future.result(5)
    assert _measured(m.latency, "lookup", 2) == 2  # speculative runs are measured too
    assert runs == ["z", "a"]


def test_learning_can_be_switched_off(world):
    reg, executor, _ = world
    config = SpeculationConfig(min_probability=0.0, waste_price=0.0, coordination_cost_s=0.004,
                               learn_latency=False)
    m = SpeculationManager(reg, executor, config)
    m.resolve("s", "c1", "lookup", {"key": "z"}, canonical_call("lookup", {"key": "z"})).result(5)
    assert _measured(m.latency, "lookup", 1) == 1  # still measured (for readers) ...
    assert m.speculate("s", [_lookup("a", 0.5, 0.001)]) == []  # ... but admission ignores it


def test_one_latency_object_is_shared_by_managers(world):
    reg, executor, _ = world
    shared = ToolLatency()
    a = SpeculationManager(reg, executor, latency=shared)
    b = SpeculationManager(reg, executor, latency=shared)
    a.resolve("s", "c1", "lookup", {"key": "z"}, canonical_call("lookup", {"key": "z"})).result(5)
    assert b.latency is shared and _measured(shared, "lookup", 1) == 1
