"""SpeculationManager with a real ToolRegistry and ToolExecutor: hits of each kind, misses,
admission (effect class, tool policy, estimates, value, global budget), freshness after a
side-effecting call, and speculative failures that stay invisible."""

from __future__ import annotations

import threading

import pytest

from paste.parsing import canonical_call
from paste.speculation.admission import Candidate
from paste.speculation.config import SpeculationConfig
from paste.speculation.manager import SpeculationManager
from paste.tools import SpeculationPolicy, ToolExecutor, ToolRegistry


# The fake tools here take microseconds; admission must see the estimates the candidates
# carry (learned latencies have their own tests: test_speculation_latency.py).
def fixed(**options):
    # No waste bound either: microsecond tools use almost no tool time, so it would admit only
    # a session's first job (the bound has its own tests: test_speculation_waste.py).
    return SpeculationConfig(learn_latency=False, max_waste_ratio=None, **options)


class Counter:
    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    def hit(self, **kw) -> None:
        with self.lock:
            self.calls.append(kw)


@pytest.fixture
def world():
    reg = ToolRegistry()
    seen = Counter()
    gate = threading.Event()
    fail_first = {"n": 0}

    @reg.tool(effect="read_only", timeout_s=10)
    def lookup(key: str) -> str:
        seen.hit(tool="lookup", key=key)
        return f"value of {key}"

    @reg.tool(effect="read_only", timeout_s=10, max_concurrency=1)
    def slow(key: str) -> str:
        seen.hit(tool="slow", key=key)
        gate.wait(10)
        return f"slow {key}"

    @reg.tool(effect="side_effect", timeout_s=10)
    def write(key: str) -> str:
        seen.hit(tool="write", key=key)
        return "written"

    @reg.tool(effect="read_only", timeout_s=10)
    def flaky(key: str) -> str:
        fail_first["n"] += 1
        if fail_first["n"] == 1:
            raise RuntimeError("speculative run failed")
        return f"flaky {key}"

    @reg.tool(effect="read_only", speculation=SpeculationPolicy(
        allowed=lambda a: a["url"].startswith("http://allowed/")))
    def fetch(url: str) -> str:
        seen.hit(tool="fetch", url=url)
        return url

    executor = ToolExecutor(reg)
    yield reg, executor, seen, gate
    gate.set()
    executor.shutdown()
    reg.close()


def cand(name, args, p=0.9, lat=1.0, until=1.0):
    return Candidate(name, args, canonical_call(name, args), p, lat, until)


def test_done_speculative_result_is_reused_with_the_callers_call_id(world):
    reg, executor, seen, _ = world
    m = SpeculationManager(reg, executor, fixed())
    assert m.speculate("s", [cand("lookup", {"key": "a"})]) == [canonical_call("lookup", {"key": "a"})]
    m.staging.jobs("s")[0].future.result(5)
    out = m.resolve("s", "call-7", "lookup", {"key": "a"}, canonical_call("lookup", {"key": "a"}))
    res = out.result(5)
    assert (out.kind, res.call_id, res.content, res.ok) == ("reused", "call-7", "value of a", True)
    assert seen.calls == [{"tool": "lookup", "key": "a"}]  # ran once, speculatively
    snap = m.metrics.snapshot("s")
    assert (snap["hits_reused"], snap["misses"], snap["speculative_jobs"]) == (1, 0, 1)
    assert m.budget.in_use == 0


def test_running_job_is_awaited_and_queued_job_is_promoted(world):
    reg, executor, seen, gate = world
    m = SpeculationManager(reg, executor, fixed())
    m.speculate("s", [cand("slow", {"key": "x"})])
    job = m.staging.jobs("s")[0]
    for _ in range(500):
        if job.future.started():
            break
        threading.Event().wait(0.01)
    assert job.future.started()
    m.speculate("s", [cand("slow", {"key": "y"})])  # queued behind x (max_concurrency 1)
    out_y = m.resolve("s", "c2", "slow", {"key": "y"}, canonical_call("slow", {"key": "y"}))
    out_x = m.resolve("s", "c1", "slow", {"key": "x"}, canonical_call("slow", {"key": "x"}))
    gate.set()
    assert out_x.result(5).content == "slow x" and out_x.kind == "awaited"
    assert out_y.result(5).content == "slow y" and out_y.kind == "promoted"
    assert [c["key"] for c in seen.calls] == ["x", "y"]  # y ran once, authoritatively
    snap = m.metrics.snapshot()
    assert (snap["hits_awaited"], snap["hits_promoted"], snap["hits"]) == (1, 1, 2)


def test_admission_rejections_fail_closed(world):
    reg, executor, seen, _ = world
    m = SpeculationManager(reg, executor, fixed(max_concurrent_jobs=1))
    assert m.speculate("s", [cand("write", {"key": "a"})]) == []  # side effect
    assert m.speculate("s", [cand("fetch", {"url": "http://evil/"})]) == []  # policy
    assert m.speculate("s", [cand("lookup", {"key": "a"}, until=None)]) == []  # estimate
    assert m.speculate("s", [cand("lookup", {"key": "a"}, p=0.001, lat=0.01)]) == []  # value
    assert m.speculate("s", [cand("nope", {})]) == []  # unknown tool
    assert seen.calls == []  # nothing ran: no speculative side effects
    assert m.metrics.snapshot("s")["rejected"] == {
        "effect": 1, "policy": 1, "estimates": 1, "value": 1, "unknown_tool": 1}
    assert m.speculate("s", [cand("fetch", {"url": "http://allowed/1"})]) != []
    assert m.speculate("s", [cand("lookup", {"key": "b"})]) == [] or m.budget.in_use <= 1


def test_side_effecting_call_makes_staged_results_stale(world):
    reg, executor, seen, _ = world
    m = SpeculationManager(reg, executor, fixed())
    m.speculate("s", [cand("lookup", {"key": "a"})])
    m.staging.jobs("s")[0].future.result(5)
    m.resolve("s", "w", "write", {"key": "a"}, canonical_call("write", {"key": "a"})).result(5)
    out = m.resolve("s", "r", "lookup", {"key": "a"}, canonical_call("lookup", {"key": "a"}))
    assert out.result(5).content == "value of a" and out.kind == "miss"
    assert [c["tool"] for c in seen.calls] == ["lookup", "write", "lookup"]
    assert m.metrics.snapshot("s")["stale_discarded"] == 1


def test_failed_speculation_is_invisible(world):
    reg, executor, _, _ = world
    m = SpeculationManager(reg, executor, fixed())
    m.speculate("s", [cand("flaky", {"key": "k"})])
    assert not m.staging.jobs("s")[0].future.result(5).ok
    out = m.resolve("s", "c", "flaky", {"key": "k"}, canonical_call("flaky", {"key": "k"}))
    res = out.result(5)
    assert (res.ok, res.content, out.kind) == (True, "flaky k", "miss")


def test_sessions_never_see_each_others_speculation(world):
    reg, executor, seen, _ = world
    m = SpeculationManager(reg, executor, fixed())
    m.speculate("a", [cand("lookup", {"key": "z"})])
    m.staging.jobs("a")[0].future.result(5)
    out = m.resolve("b", "c", "lookup", {"key": "z"}, canonical_call("lookup", {"key": "z"}))
    assert out.result(5).content == "value of z" and out.kind == "miss"
    m.end_session("a")
    assert m.staging.jobs("a") == [] and m.metrics.snapshot("a")["cancelled"] == 1


def test_disabled_speculation_launches_nothing(world):
    reg, executor, seen, _ = world
    m = SpeculationManager(reg, executor, fixed(enable_speculation=False))
    assert m.speculate("s", [cand("lookup", {"key": "a"})]) == []
    assert seen.calls == []
