"""CPU slots: running cpu_bound jobs (authoritative + speculative, across every manager of one
SpeculationBudget) are counted; a speculative cpu_bound call is admitted only below cpu_slots
(reason "cpu" otherwise), and an authoritative one that finds the slots taken makes the newest
speculative cpu_bound job of a process-isolated tool yield (its process is killed).

The process tools are module-level so the spawned child can import them by name.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from paste.errors import InternalError, InvalidArgumentError
from paste.parsing import canonical_call
from paste.speculation.admission import Candidate
from paste.speculation.budget import SpeculationBudget
from paste.speculation.config import SpeculationConfig
from paste.speculation.manager import SpeculationManager
from paste.tools import ToolExecutor, ToolRegistry

WAIT_S = 30.0  # spawn start-up included; never reached when the code is right

# The fake tools here take microseconds; admission must see the estimates the candidates
# carry (learned latencies have their own tests: test_speculation_latency.py).


def fixed(**options):
    # No waste bound either: microsecond tools use almost no tool time, so it would admit only
    # a session's first job (the bound has its own tests: test_speculation_waste.py).
    return SpeculationConfig(learn_latency=False, max_waste_ratio=None, **options)


def crunch(path: str, seconds: float) -> str:
    """Process tool: writes its pid to `path`, then stands in for CPU work for `seconds`."""
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
    return f"crunched {Path(path).name}"


def cand(name, args, p=0.9, lat=5.0, until=5.0):
    return Candidate(name, args, canonical_call(name, args), p, lat, until)


def wait_for(pred, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


# -- SpeculationBudget's counters -----------------------------------------------------------


def test_cpu_counters_count_and_refuse_exactly():
    b = SpeculationBudget(8)
    assert [b.try_start_cpu(2) for _ in range(3)] == [True, True, False]
    assert b.num_cpu_running == 2
    assert b.start_cpu(2) is False  # authoritative: always counted, nothing to yield
    assert b.num_cpu_running == 3
    for _ in range(3):
        b.finish_cpu()
    assert b.num_cpu_running == 0
    assert b.try_start_cpu(0) is False  # 0 slots: never
    with pytest.raises(InternalError):
        b.finish_cpu()
    assert b.in_use == 0  # the job budget is separate


def test_an_authoritative_start_makes_the_newest_yieldable_job_yield():
    b = SpeculationBudget(8)
    yielded: list[str] = []
    assert b.try_start_cpu(2) and b.try_start_cpu(2)
    b.register_yieldable("old", lambda: yielded.append("old"))
    b.register_yieldable("new", lambda: yielded.append("new"))
    with pytest.raises(InternalError):
        b.register_yieldable("new", lambda: None)
    assert b.start_cpu(3) is False  # a slot was free: nobody yields
    assert yielded == []
    assert b.start_cpu(3) is True  # 3 running >= 3 slots
    assert (yielded, b.num_yieldable, b.num_cpu_running) == (["new"], 1, 4)
    assert b.unregister_yieldable("old") is True
    assert b.unregister_yieldable("old") is False
    assert b.start_cpu(1) is False  # slots taken, but nothing left to yield
    assert yielded == ["new"]


def test_cpu_slots_config():
    assert SpeculationConfig().cpu_slots == max(1, (os.cpu_count() or 1) // 2)
    assert SpeculationConfig(cpu_slots=0).cpu_slots == 0
    for bad in (-1, True, 1.5):
        with pytest.raises(InvalidArgumentError, match="cpu_slots"):
            SpeculationConfig(cpu_slots=bad)


# -- admission and counting through the manager ---------------------------------------------


@pytest.fixture
def world():
    reg = ToolRegistry()
    gates = {k: threading.Event() for k in ("a", "b", "c")}
    ran: list[tuple[str, str]] = []

    @reg.tool(effect="read_only", cpu_bound=True, timeout_s=WAIT_S)
    def test_run(key: str) -> str:
        ran.append(("test_run", key))
        gates[key].wait(WAIT_S)
        return f"tests {key}"

    @reg.tool(effect="read_only", timeout_s=WAIT_S)
    def view(key: str) -> str:
        ran.append(("view", key))
        return f"view {key}"

    executor = ToolExecutor(reg)
    yield reg, executor, gates, ran
    for gate in gates.values():
        gate.set()
    executor.shutdown()


def test_speculation_waits_for_a_free_cpu_slot(world):
    reg, executor, gates, ran = world
    m = SpeculationManager(reg, executor, fixed(cpu_slots=1))
    auth = m.resolve("s", "c1", "test_run", {"key": "a"}, canonical_call("test_run", {"key": "a"}))
    assert m.budget.num_cpu_running == 1
    launched = m.speculate("s", [cand("test_run", {"key": "b"}), cand("view", {"key": "v"})])
    assert launched == [canonical_call("view", {"key": "v"})]  # view is not cpu_bound
    assert m.metrics.snapshot("s")["rejected"] == {"cpu": 1}
    assert m.budget.num_cpu_running == 1  # the refused candidate holds neither count nor slot
    m.staging.jobs("s")[0].future.result(WAIT_S)  # the view job
    wait_for(lambda: m.budget.in_use == 0)
    gates["a"].set()
    assert auth.result(WAIT_S).content == "tests a"
    wait_for(lambda: m.budget.num_cpu_running == 0)
    assert m.speculate("s", [cand("test_run", {"key": "b"})]) == [
        canonical_call("test_run", {"key": "b"})]
    assert m.budget.num_cpu_running == 1
    gates["b"].set()
    m.staging.jobs("s")[0].future.result(WAIT_S)
    wait_for(lambda: (m.budget.num_cpu_running, m.budget.in_use) == (0, 0))
    assert ran == [("test_run", "a"), ("view", "v"), ("test_run", "b")]


def test_slots_are_shared_by_every_manager_of_one_budget(world):
    reg, executor, gates, _ = world
    budget = SpeculationBudget(8)
    cfg = fixed(cpu_slots=1)
    one = SpeculationManager(reg, executor, cfg, budget=budget)
    two = SpeculationManager(reg, executor, cfg, budget=budget)
    assert one.speculate("s1", [cand("test_run", {"key": "a"})]) != []
    assert two.speculate("s2", [cand("test_run", {"key": "b"})]) == []
    assert two.metrics.snapshot("s2")["rejected"] == {"cpu": 1}
    assert budget.num_cpu_running == 1
    one.end_session("s1")  # cancelled: its count ends with its future
    assert budget.num_cpu_running == 0


def test_zero_cpu_slots_never_speculate_cpu_bound_calls(world):
    reg, executor, _, ran = world
    m = SpeculationManager(reg, executor, fixed(cpu_slots=0))
    assert m.speculate("s", [cand("test_run", {"key": "a"})]) == []
    assert m.metrics.snapshot("s")["rejected"] == {"cpu": 1}
    assert (m.budget.num_cpu_running, m.budget.in_use, ran) == (0, 0, [])


def test_a_budget_refusal_gives_the_cpu_slot_back(world):
    reg, executor, _, ran = world
    m = SpeculationManager(reg, executor, fixed(max_concurrent_jobs=0, cpu_slots=2))
    assert m.speculate("s", [cand("test_run", {"key": "a"})]) == []
    assert m.metrics.snapshot("s")["rejected"] == {"budget": 1}
    assert (m.budget.num_cpu_running, ran) == (0, [])


def test_a_thread_tool_never_yields(world):
    reg, executor, gates, _ = world
    m = SpeculationManager(reg, executor, fixed(cpu_slots=1))
    m.speculate("s", [cand("test_run", {"key": "a"})])
    spec_job = m.staging.jobs("s")[0]
    auth = m.resolve("s", "c1", "test_run", {"key": "b"}, canonical_call("test_run", {"key": "b"}))
    assert m.budget.num_cpu_running == 2  # counted, but a thread cannot be stopped
    assert m.metrics.snapshot("s")["yielded"] == 0
    gates["a"].set()
    gates["b"].set()
    assert (spec_job.future.result(WAIT_S).ok, auth.result(WAIT_S).ok) == (True, True)
    wait_for(lambda: m.budget.num_cpu_running == 0)


# -- yielding (process-isolated cpu_bound tools) --------------------------------------------


@pytest.fixture
def procs(tmp_path):
    reg = ToolRegistry()
    reg.add_function(crunch, effect="read_only", cpu_bound=True, isolation="process",
                     timeout_s=WAIT_S)
    executor = ToolExecutor(reg, max_workers=4)
    yield reg, executor, tmp_path
    executor.shutdown(wait=False)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_running_speculative_job_yields_to_an_authoritative_one(procs):
    reg, executor, tmp = procs
    m = SpeculationManager(reg, executor, fixed(cpu_slots=1))
    spec_args = {"path": str(tmp / "spec.pid"), "seconds": WAIT_S}
    assert m.speculate("s", [cand("crunch", spec_args)]) != []
    spec_job = m.staging.jobs("s")[0]
    wait_for(lambda: (tmp / "spec.pid").exists() and (tmp / "spec.pid").read_text())
    pid = int((tmp / "spec.pid").read_text())
    assert m.budget.num_yieldable == 1
    auth_args = {"path": str(tmp / "auth.pid"), "seconds": 0.0}
    auth = m.resolve("s", "c1", "crunch", auth_args, canonical_call("crunch", auth_args))
    res = spec_job.future.result(WAIT_S)
    assert (res.ok, res.error_kind) == (False, "cancelled")
    assert m.staging.jobs("s") == []
    counts = m.metrics.snapshot("s")
    assert (counts["yielded"], counts["cancelled"], counts["hits"]) == (1, 0, 0)
    assert counts["waste_s"] == pytest.approx(res.tool_s)
    wait_for(lambda: not pid_alive(pid))  # the speculative process was killed
    assert auth.result(WAIT_S).content == "crunched auth.pid"
    wait_for(lambda: (m.budget.num_cpu_running, m.budget.in_use, m.budget.num_yieldable)
             == (0, 0, 0))


def test_a_claimed_speculative_job_does_not_yield(procs):
    reg, executor, tmp = procs
    m = SpeculationManager(reg, executor, fixed(cpu_slots=1))
    spec_args = {"path": str(tmp / "spec.pid"), "seconds": 3.0}
    m.speculate("s", [cand("crunch", spec_args)])
    wait_for(lambda: (tmp / "spec.pid").exists())
    awaited = m.resolve("s", "c1", "crunch", spec_args, canonical_call("crunch", spec_args))
    assert (awaited.kind, m.budget.num_yieldable) == ("awaited", 0)
    other = {"path": str(tmp / "other.pid"), "seconds": 0.0}
    second = m.resolve("s", "c2", "crunch", other, canonical_call("crunch", other))
    assert awaited.result(WAIT_S).content == "crunched spec.pid"
    assert second.result(WAIT_S).content == "crunched other.pid"
    counts = m.metrics.snapshot("s")
    assert (counts["yielded"], counts["hits_awaited"]) == (0, 1)
    wait_for(lambda: m.budget.num_cpu_running == 0)
