"""WasteBudget: the exact admission rule, the scale-free start, settlement, and the manager
keeping wasted speculative tool time within max_waste_ratio of the tool time used."""

from __future__ import annotations

import threading
import time

import pytest

from paste.errors import InvalidArgumentError
from paste.parsing import canonical_call
from paste.speculation import (
    AdmissionPolicy,
    Candidate,
    SharedSpeculation,
    SpeculationBudget,
    SpeculationConfig,
    SpeculationManager,
    WasteBudget,
)
from paste.speculation.waste import Reservation
from paste.tools import ToolExecutor, ToolRegistry


def test_first_job_is_admitted_with_nothing_used_then_the_ratio_rules():
    w = WasteBudget(0.5)
    first = w.try_reserve(1.0)  # nothing in flight, nothing wasted: admitted
    assert first is not None
    assert w.try_reserve(0.01) is None  # 1.0 + 0.01 > 0.5 * 0 used
    w.settle(first, wasted_s=1.2)  # never used, and it ran 1.2 s: realized waste
    assert w.snapshot() == {"max_ratio": 0.5, "used_s": 0.0, "wasted_s": 1.2,
                            "at_risk_s": 0.0, "in_flight": 0,
                            "overrun": pytest.approx(1.2),  # 1.2 s wasted / 1.0 s reserved
                            "cut": 0}
    assert w.try_reserve(0.01) is None  # spent: 1.2 > 0.5 * 0
    w.add_used(2.4)  # now 1.2 <= 0.5 * 2.4: a first job again
    assert w.try_reserve(5.0) is not None


def test_each_session_may_start_with_one_job_while_realized_waste_is_within_budget():
    w = WasteBudget(0.5)
    a1 = w.try_reserve(0.9, "a", probability=1.0)
    assert a1 is not None and w.try_reserve(0.9, "a", 1.0) is None  # a has one in flight
    b1 = w.try_reserve(0.9, "b", 1.0)  # b has none, a's is sure: b's first job is admitted
    assert b1 is not None and w.snapshot()["in_flight"] == 2
    w.settle(a1, wasted_s=0.5)  # realized waste 0.5 > 0.5 * 0 used
    assert w.try_reserve(0.9, "a", 1.0) is None and w.try_reserve(0.9, "c", 1.0) is None
    w.add_used(1.0)  # 0.5 <= 0.5 * 1.0: within budget again
    assert w.try_reserve(0.9, "c", 1.0) is not None
    assert w.try_reserve(0.9, "b", 1.0) is None  # b still has its first one in flight


def test_a_start_counts_the_expected_waste_of_the_jobs_in_flight():
    w = WasteBudget(0.5)
    a1 = w.try_reserve(2.0, "a", probability=0.6)  # expected to waste 0.4 * 2.0 = 0.8 s
    assert a1 is not None and a1.expected_waste_s == pytest.approx(0.8)
    assert w.try_reserve(1.0, "b", 1.0) is None  # 0 wasted + 0.8 expected > 0.5 * 0 used
    w.add_used(1.5)  # 0.8 > 0.75 still
    assert w.try_reserve(1.0, "b", 1.0) is None
    w.add_used(0.1)  # 0.8 <= 0.8: b may start (its own doubt does not count against it)
    b1 = w.try_reserve(1.0, "b", 0.0)
    assert b1 is not None and b1.expected_waste_s == 1.0
    assert w.try_reserve(0.1, "c", 1.0) is None  # 0.8 + 1.0 expected > 0.8
    w.settle(b1)  # b's job was used: its doubt is released
    w.settle(a1)
    assert w.try_reserve(0.1, "c", 1.0) is not None
    assert w.snapshot()["wasted_s"] == 0.0


@pytest.mark.parametrize("p, expected", [(-0.5, 1.0), (1.5, 0.0), (0.25, 0.75)])
def test_probabilities_are_clamped_to_zero_one(p, expected):
    res = WasteBudget(None).try_reserve(1.0, "s", p)
    assert res is not None and res.expected_waste_s == pytest.approx(expected)


def test_every_job_in_flight_counts_as_wasted_until_settled():
    w = WasteBudget(0.5)
    w.add_used(4.0)  # room for 2.0 s
    a = w.try_reserve(1.0, "s")
    assert a is not None
    assert w.try_reserve(1.0, "s") is not None  # 1.0 + 1.0 <= 2.0: exactly at the bound
    assert w.try_reserve(0.01, "s") is None  # 2.01 > 2.0
    w.settle(a)  # claimed by the model's call: no waste, its latency is released
    assert w.try_reserve(0.5, "s") is not None  # 1.0 + 0.5 <= 2.0
    snap = w.snapshot()
    assert (snap["at_risk_s"], snap["wasted_s"], snap["in_flight"]) == (1.5, 0.0, 2)


def test_settle_is_once_per_reservation_and_none_only_adds_waste():
    w = WasteBudget(1.0)
    res = w.try_reserve(0.3)
    w.settle(res)
    w.settle(res)  # a second settle releases nothing more
    w.settle(None, 0.25)
    assert w.snapshot() == {"max_ratio": 1.0, "used_s": 0.0, "wasted_s": 0.25,
                            "at_risk_s": 0.0, "in_flight": 0, "overrun": 1.0, "cut": 0}


def test_jobs_wasted_longer_than_reserved_scale_every_later_risk():
    w = WasteBudget(0.5)
    w.add_used(10.0)  # allowed: 5.0
    a1 = w.try_reserve(1.0, "a")
    w.settle(a1, wasted_s=2.0)  # reserved 1.0 s, wasted 2.0 s: overrun 2
    assert w.snapshot()["overrun"] == 2.0
    a2 = w.try_reserve(0.5, "a", 1.0)  # a has none in flight and expects no waste: a start
    assert a2 is not None
    assert w.try_reserve(0.9, "a") is not None  # 2.0 + 2 * (0.5 + 0.9) = 4.8 <= 5.0
    assert w.try_reserve(0.2, "a") is None  # 2.0 + 2 * (1.4 + 0.2) = 5.2 > 5.0 (3.6 at 1x)


def test_a_start_scales_the_expected_waste_in_flight_by_the_overrun():
    w = WasteBudget(0.5)
    w.add_used(3.8)  # allowed: 1.9
    a1 = w.try_reserve(1.0, "a")
    w.settle(a1, wasted_s=1.5)  # overrun 1.5
    b1 = w.try_reserve(0.6, "b", 0.5)  # fits: 1.5 + 1.5 * 0.6 = 2.4 > 1.9, but b starts
    assert b1 is not None and b1.expected_waste_s == pytest.approx(0.3)
    assert w.try_reserve(0.1, "c", 1.0) is None  # 1.5 + 1.5 * 0.3 = 1.95 > 1.9 (1.8 at 1x)


def test_overrun_never_falls_below_one_and_ignores_jobs_that_wasted_nothing():
    w = WasteBudget(1.0)
    w.add_used(100.0)  # room for every job below
    short = w.try_reserve(1.0)
    w.settle(short, wasted_s=0.25)  # ran a quarter of its reservation: still counted at 1x
    assert w.snapshot()["overrun"] == 1.0
    cancelled = w.try_reserve(4.0)
    w.settle(cancelled)  # cancelled before it ran: no measurement
    long = w.try_reserve(1.0)
    w.settle(long, wasted_s=3.75)  # (0.25 + 3.75) / (1.0 + 1.0): the cancelled 4.0 is out
    assert w.snapshot()["overrun"] == 2.0
    w.settle(long, wasted_s=1.0)  # settled twice: waste, but no second measurement
    assert w.snapshot()["overrun"] == 2.0 and w.snapshot()["wasted_s"] == 5.0


def test_a_job_cut_short_by_a_cancel_wastes_its_time_but_measures_no_overrun():
    w = WasteBudget(1.0)
    w.add_used(100.0)
    long = w.try_reserve(1.0)
    w.settle(long, wasted_s=3.0)  # ran to its end: overrun 3
    cut = w.try_reserve(2.0)
    w.settle(cut, wasted_s=0.5, ran_out=False)  # cancelled after 0.5 s of its 2.0 expected
    snap = w.snapshot()
    assert (snap["overrun"], snap["wasted_s"], snap["in_flight"]) == (3.0, 3.5, 0)


def test_unbounded_always_reserves():
    w = WasteBudget(None)
    w.settle(None, 100.0)
    assert w.try_reserve(5.0) is not None and w.try_reserve(5.0) is not None
    assert w.snapshot()["in_flight"] == 2


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.5", True])
def test_bad_ratios_are_refused(bad):
    with pytest.raises(InvalidArgumentError, match="max_waste_ratio"):
        WasteBudget(bad)
    with pytest.raises(InvalidArgumentError, match="max_waste_ratio"):
        SpeculationConfig(max_waste_ratio=bad)


def _registry(gate: threading.Event, ran: list[str]) -> ToolRegistry:
    reg = ToolRegistry()

    @reg.tool(effect="read_only", timeout_s=10)
    def get(key: str) -> str:
        ran.append(key)
        gate.wait(10)
        return f"got {key}"

    return reg


def _cand(key: str, p: float, lat: float = 1.0) -> Candidate:
    args = {"key": key}
    return Candidate("get", args, canonical_call("get", args), p, lat, 10.0)


def test_admission_reports_waste_and_holds_nothing_on_refusal():
    reg = ToolRegistry()

    @reg.tool(effect="read_only")
    def get(key: str) -> str:
        return key

    budget, waste = SpeculationBudget(4), WasteBudget(0.5)
    policy = AdmissionPolicy(budget, waste=waste)
    first = policy.decide(_cand("a", 0.2), reg.get("get"), 0.0, "s")
    assert first.admitted and first.reservation is not None
    assert (first.reservation.risk_s, first.reservation.owner) == (1.0, "s")
    assert first.reservation.expected_waste_s == pytest.approx(0.8)  # (1 - 0.2) * 1.0
    second = policy.decide(_cand("b", 0.9), reg.get("get"), 0.0, "s")
    assert (second.admitted, second.reason) == (False, "waste")
    assert budget.in_use == 1 and waste.snapshot()["in_flight"] == 1  # only the first's


def test_manager_settles_on_hit_and_on_discard():
    gate, ran = threading.Event(), []
    reg = _registry(gate, ran)
    executor = ToolExecutor(reg)
    try:
        gate.set()
        m = SpeculationManager(reg, executor, SpeculationConfig(learn_latency=False))
        assert len(m.speculate("s", [_cand("a", 0.3)])) == 1
        assert m.waste.snapshot()["in_flight"] == 1
        m.staging.jobs("s")[0].future.result(5)
        out = m.resolve("s", "c1", "get", {"key": "a"}, canonical_call("get", {"key": "a"}))
        res = out.result(5)
        snap = m.waste.snapshot()
        assert (out.kind, snap["in_flight"], snap["wasted_s"]) == ("reused", 0, 0.0)
        assert snap["used_s"] == pytest.approx(res.tool_s)  # the hit's tool time was used
        assert len(m.speculate("s", [_cand("b", 0.3)])) == 1
        job = m.staging.jobs("s")[0]
        job.future.result(5)
        m.end_session("s")  # never asked for: its tool time is waste
        snap = m.waste.snapshot()
        assert snap["in_flight"] == 0
        assert snap["wasted_s"] == pytest.approx(job.future.result(0).tool_s)
        assert snap["wasted_s"] == pytest.approx(m.metrics.snapshot()["waste_s"])
    finally:
        executor.shutdown()
        reg.close()


def test_a_job_discarded_while_running_or_after_failing_counts_its_tool_time_as_waste():
    """Before, only an ok result's time counted: a job cancelled mid-run (a session that
    ended, a side effect that made it stale) or one that failed wasted nothing on paper."""
    gate, ran = threading.Event(), []
    reg = _registry(gate, ran)

    @reg.tool(effect="read_only", timeout_s=10)
    def broken(key: str) -> str:
        gate.wait(10)
        raise RuntimeError(f"no {key}")

    executor = ToolExecutor(reg)
    try:
        m = SpeculationManager(reg, executor, SpeculationConfig(learn_latency=False))
        assert len(m.speculate("s", [_cand("a", 0.3)])) == 1
        job = m.staging.jobs("s")[0]
        deadline = time.monotonic() + 5
        while ran != ["a"] and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)
        m.end_session("s")  # still running: cancelled
        res = job.future.result(0)
        assert (res.ok, res.error_kind) == (False, "cancelled")
        assert res.tool_s >= 0.05
        snap = m.waste.snapshot()
        assert snap["in_flight"] == 0
        assert snap["wasted_s"] == pytest.approx(res.tool_s)
        assert snap["overrun"] == 1.0  # cut short: its length measures nothing
        assert m.metrics.snapshot()["waste_s"] == pytest.approx(res.tool_s)
        gate.set()
        m.waste.add_used(100.0)  # room for the next job
        args = {"key": "b"}
        failing = Candidate("broken", args, canonical_call("broken", args), 0.3, 1.0, 10.0)
        assert len(m.speculate("t", [failing])) == 1
        failed = m.staging.jobs("t")[0].future.result(5)
        assert (failed.ok, failed.error_kind) == (False, "tool_error")
        m.end_session("t")
        assert m.waste.snapshot()["wasted_s"] == pytest.approx(res.tool_s + failed.tool_s)
        assert m.metrics.snapshot()["waste_s"] == pytest.approx(res.tool_s + failed.tool_s)
    finally:
        gate.set()
        executor.shutdown()
        reg.close()


def test_shared_managers_stop_speculating_once_the_waste_budget_is_spent():
    """Two managers (two tool sets) on one SharedSpeculation: waste one's job, and the other
    cannot speculate until enough tool time was used."""
    gate, ran = threading.Event(), []
    reg_a, reg_b = _registry(gate, ran), _registry(gate, ran)
    ex_a, ex_b = ToolExecutor(reg_a), ToolExecutor(reg_b)
    try:
        gate.set()
        shared = SharedSpeculation(SpeculationConfig(learn_latency=False, max_waste_ratio=0.5))
        a, b = shared.manager(reg_a, ex_a), shared.manager(reg_b, ex_b)
        assert a.waste is b.waste and a.budget is b.budget and a.metrics is b.metrics
        assert len(a.speculate("s1", [_cand("x", 0.9)])) == 1
        a.staging.jobs("s1")[0].future.result(5)
        a.end_session("s1")
        wasted = shared.waste.snapshot()["wasted_s"]
        assert wasted > 0
        # the realized waste is over 0.5 * 0 used: not even a first job
        assert b.speculate("s2", [_cand("y", 0.9)]) == []
        assert b.metrics.snapshot("s2")["rejected"] == {"waste": 1}
        shared.waste.add_used(2 * wasted + 2.0)  # w + 1.0 <= 0.5 * (2w + 2.0)
        assert len(b.speculate("s2", [_cand("y", 0.9)])) == 1
        assert ran == ["x", "y"]
    finally:
        for ex, reg in ((ex_a, reg_a), (ex_b, reg_b)):
            ex.shutdown()
            reg.close()


class FakeTimedJob:
    """A fake job in flight for the cut: a fixed tool time so far, a done flag, and a log of
    its cancel (which settles its reservation as waste, as the manager's cut does)."""

    def __init__(self, budget: WasteBudget, ran_s: float, done: bool = False) -> None:
        self.budget, self.ran_s, self.is_done, self.cancelled = budget, ran_s, done, False
        self.res: Reservation | None = None

    def tool_time(self, now: float | None = None) -> float:
        return self.ran_s

    def done(self) -> bool:
        return self.is_done

    def cancel(self) -> None:
        self.cancelled = True
        self.budget.settle(self.res, self.ran_s, ran_out=False)


def _bound_job(w: WasteBudget, p: float, ran: float, owner: str, passed: bool = False,
               done: bool = False) -> FakeTimedJob:
    job = FakeTimedJob(w, ran, done)
    job.res = w.try_reserve(0.1, owner, p)
    assert job.res is not None
    w.bind(job.res, job, job.cancel)
    if passed:
        w.pass_over(job.res)
    return job


def test_over_the_bound_the_cut_cancels_the_passed_over_jobs_still_running():
    w = WasteBudget(0.5, poll_s=None)
    w.add_used(4.0)  # allowed: 2.0
    passed = _bound_job(w, 0.9, 0.5, "a", passed=True)  # however likely it was
    pending = _bound_job(w, 0.1, 1.0, "b")  # its call is still to come
    ended = _bound_job(w, 0.2, 0.5, "c", passed=True, done=True)  # its time is spent
    sure = _bound_job(w, 1.0, 0.5, "d", passed=True)  # p = 1 risks nothing
    assert w.enforce() == 1  # 0.5 + 1.0 + 0.5 + 0.5 = 2.5 > 2.0
    assert [j.cancelled for j in (passed, pending, ended, sure)] == [True, False, False, False]
    snap = w.snapshot()
    assert (snap["wasted_s"], snap["in_flight"], snap["cut"]) == (0.5, 3, 1)
    assert w.enforce() == 0  # still 2.5 > 2.0, but nothing left that may be cut
    w.pass_over(pending.res)
    assert w.enforce() == 1 and pending.cancelled is True
    assert w.snapshot()["wasted_s"] == 1.5


def test_within_the_bound_nothing_is_cut():
    w = WasteBudget(0.5, poll_s=None)
    w.add_used(6.0)  # allowed: 3.0
    a = _bound_job(w, 0.2, 1.0, "a", passed=True)
    b = _bound_job(w, 0.2, 2.0, "b")  # 3.0 <= 3.0
    assert w.enforce() == 0 and (a.cancelled, b.cancelled) == (False, False)
    b.ran_s = 2.01
    assert w.enforce() == 1 and (a.cancelled, b.cancelled) == (True, False)


def test_pass_over_and_bind_are_no_ops_without_a_bound_or_for_a_settled_job():
    w = WasteBudget(None, poll_s=None)
    job = _bound_job(w, 0.1, 9.0, "a", passed=True)
    assert w.enforce() == 0 and job.cancelled is False
    b = WasteBudget(0.5, poll_s=None)
    res = b.try_reserve(0.1, "a", 0.1)
    unbound = b.try_reserve(0.1, "b", 0.1)
    b.pass_over(unbound)  # never bound: the cut knows nothing of its time
    b.settle(res, 0.0)
    late = FakeTimedJob(b, 9.0)
    b.bind(res, late, late.cancel)
    b.pass_over(res)
    b.pass_over(None)
    assert b.enforce() == 0 and late.cancelled is False
    assert b.snapshot()["cut"] == 0


@pytest.mark.parametrize("bad", [0, -1.0, "0.1", float("nan")])
def test_bad_poll_intervals_are_refused(bad):
    with pytest.raises(InvalidArgumentError, match="poll_s"):
        WasteBudget(0.5, poll_s=bad)


def test_the_watchdog_cuts_a_passed_over_job_on_its_own():
    w = WasteBudget(0.5, poll_s=0.01)
    job = _bound_job(w, 0.3, 1.0, "a", passed=True)  # 1.0 > 0.5 * 0 used
    deadline = time.monotonic() + 5
    while not job.cancelled and time.monotonic() < deadline:
        time.sleep(0.005)
    assert job.cancelled is True
    assert (w.snapshot()["cut"], w.snapshot()["wasted_s"]) == (1, 1.0)


def test_the_manager_cuts_a_job_whose_call_the_model_emitted_as_another():
    """Two predictions of the next call and a chained one run (a tool that hangs); the model
    emits `b`: the hit is claimed, `a` is passed over and, the bound spent, cut; its time so
    far is waste, counted as `waste_cut`. The chained job (for the call after) is left."""
    gate, ran = threading.Event(), []
    reg = _registry(gate, ran)
    executor = ToolExecutor(reg)
    try:
        waste = WasteBudget(0.5, poll_s=None)  # the test runs the checks, on its own clock
        waste.add_used(6.0)  # three jobs of 1.0 s fit: 3.0 <= 0.5 * 6.0
        m = SpeculationManager(reg, executor, SpeculationConfig(
            learn_latency=False, max_predictions_per_event=4), waste=waste)
        assert len(m.speculate("s", [_cand("a", 0.3), _cand("b", 0.3)])) == 2
        assert len(m.speculate("s", [_cand("c", 0.3)], ahead=2)) == 1
        targets = {j.arguments["key"]: j.target for j in m.staging.jobs("s")}
        assert targets == {"a": 1, "b": 1, "c": 2}
        deadline = time.monotonic() + 5
        while len(ran) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert waste.enforce(time.monotonic() + 10) == 0  # over, but nothing passed over
        out = m.resolve("s", "c1", "get", {"key": "b"}, canonical_call("get", {"key": "b"}))
        assert waste.enforce(time.monotonic()) == 0  # passed over, within the bound
        assert waste.enforce(time.monotonic() + 10) == 1  # ~30 s run > 3.0 allowed
        (cut,) = [j for j in m.staging.jobs("s") if j.arguments["key"] == "a"] or [None]
        assert cut is None  # unstaged
        counts = m.metrics.snapshot()
        assert counts["waste_cut"] == 1 and counts["waste_s"] > 0.0
        assert sorted(j.arguments["key"] for j in m.staging.jobs("s")) == ["c"]
        gate.set()
        assert out.result(5).content == "got b"
        snap = waste.snapshot()
        assert (snap["cut"], snap["wasted_s"]) == (1, pytest.approx(counts["waste_s"]))
        m.staging.jobs("s")[0].future.result(5)  # `c` ends
        m.resolve("s", "c2", "get", {"key": "d"}, canonical_call("get", {"key": "d"}))
        # the chained job's call came as another one, but it had ended: not cut
        assert waste.enforce(time.monotonic() + 10) == 0
    finally:
        gate.set()
        executor.shutdown()
        reg.close()
