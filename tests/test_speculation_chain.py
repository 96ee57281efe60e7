"""Chained speculation and the predictor's allow filter, with a real ToolRegistry and
ToolExecutor: when a speculative `search` finishes, the call after it (`fetch` of the URL in
that result) is predicted on a fork of the session's state and launched with the product of
both probabilities; the model's later calls are then hits. Turned off by
SpeculationConfig.chain."""

from __future__ import annotations

import time

import pytest

from paste.parsing import canonical_call
from paste.patterns.predictor import Prediction
from paste.speculation import SpeculationConfig, SpeculationManager, Speculator
from paste.tools import ToolExecutor, ToolRegistry
from paste.tools.results import ToolJob


class FakeChainPredictor:
    """search(q) first; after a search, fetch of the first URL of its output; records the
    `allow` answers it was given for every registered-or-not tool name it knows."""

    def __init__(self) -> None:
        self.allowed: dict[str, bool] = {}

    def predict(self, state, k, allow=None, tool=None):
        for name in ("search", "fetch", "write", "unknown"):
            if allow is not None:
                self.allowed[name] = allow(name)
        if not state.calls:
            out = [("search", {"q": "paste"}, 0.9), ("write", {"q": "paste"}, 0.9)]
        elif state.calls[-1].name == "search" and "s:url:0" in state.entries[-1].locs:
            url = state.entries[-1].locs["s:url:0"]  # (not while the search still runs)
            out = [("fetch", {"url": url}, 0.8)]
        else:
            out = []
        return [Prediction(n, a, p, 1.0, canonical_call(n, a)) for n, a, p in out
                if allow is None or allow(n)][:k]


@pytest.fixture
def world(tool_world):
    reg, log = tool_world.reg, tool_world.log

    @reg.tool(effect="read_only", timeout_s=10)
    def search(q: str) -> str:
        log(("search", {"q": q}))
        return f"results for {q}: http://docs.local/{q}/1 http://docs.local/{q}/2"

    @reg.tool(effect="read_only", timeout_s=10)
    def fetch(url: str) -> str:
        log(("fetch", {"url": url}))
        return f"page {url}"

    @reg.tool(effect="read_only", timeout_s=10)
    def cite(url: str) -> str:
        log(("cite", {"url": url}))
        return f"cited {url}"

    @reg.tool(effect="side_effect", timeout_s=10)
    def write(q: str) -> str:
        log(("write", {"q": q}))
        return "written"

    return reg, tool_world.executor, tool_world.runs


def _wait_jobs(manager, session_id, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = manager.staging.jobs(session_id)
        if len(jobs) >= n and all(j.future.done() for j in jobs):
            return jobs
        time.sleep(0.01)
    raise AssertionError(f"expected {n} finished staged jobs")


def _emit(spec, name, args, call_id):
    return spec.submit(ToolJob(call_id, name, args)).result(5)


def test_chained_fetch_follows_the_speculative_search_and_both_are_hits(world):
    reg, executor, runs = world
    # learn_latency off: the fake tools take microseconds, which would (rightly) make a
    # chained call not worth running; this test is about chaining.
    # no waste bound: microsecond tools use almost no tool time (test_speculation_waste.py)
    config = SpeculationConfig(max_concurrent_jobs=4, learn_latency=False, max_waste_ratio=None)
    manager = SpeculationManager(reg, executor, config)
    predictor = FakeChainPredictor()
    spec = Speculator(manager, lambda tenant: predictor, lambda: 0.05).track("s", "t")
    spec.on_user("find paste")
    jobs = _wait_jobs(manager, "s", 2)
    url = "http://docs.local/paste/1"
    assert sorted(j.canonical for j in jobs) == sorted(
        [canonical_call("search", {"q": "paste"}), canonical_call("fetch", {"url": url})])
    # the side-effecting tool and an unregistered one never took a prediction slot
    assert predictor.allowed == {"search": True, "fetch": True, "write": False,
                                 "unknown": False}
    snap = manager.metrics.snapshot("s")
    assert (snap["speculative_jobs"], snap["chained_jobs"], snap["rejected"]) == (2, 1, {})
    first = _emit(spec, "search", {"q": "paste"}, "call_1")
    spec.on_result("search", {"q": "paste"}, first.content, first.ok)
    second = _emit(spec, "fetch", {"url": url}, "call_2")
    assert (second.call_id, second.content) == ("call_2", f"page {url}")
    snap = manager.metrics.snapshot("s")
    assert (snap["hits_reused"], snap["misses"]) == (2, 0)
    assert runs == [("search", {"q": "paste"}), ("fetch", {"url": url})]  # each ran once
    spec.close()


class FakeThreeStepPredictor(FakeChainPredictor):
    """search(q), then fetch of its first URL, then cite of the fetched URL."""

    def predict(self, state, k, allow=None, tool=None):
        if state.calls and state.calls[-1].name == "fetch":
            url = state.calls[-1].arguments["url"]
            return [Prediction("cite", {"url": url}, 0.7, 1.0,
                               canonical_call("cite", {"url": url}))][:k]
        return [p for p in super().predict(state, k, allow, tool) if p.name != "write"]


def test_a_turn_whose_next_call_is_a_staged_chained_job_chains_from_it(world):
    reg, executor, runs = world
    config = SpeculationConfig(max_concurrent_jobs=4, learn_latency=False, max_waste_ratio=None)
    manager = SpeculationManager(reg, executor, config)
    spec = Speculator(manager, lambda tenant: FakeThreeStepPredictor(), lambda: 0.05).track(
        "s", "t")
    spec.on_user("find paste")
    url = "http://docs.local/paste/1"
    jobs = _wait_jobs(manager, "s", 2)  # search, and fetch chained from it (depth 1)
    assert manager.metrics.snapshot("s")["chained_jobs"] == 1
    first = _emit(spec, "search", {"q": "paste"}, "call_1")
    spec.on_result("search", {"q": "paste"}, first.content, first.ok)
    # The next turn starts: its next call (fetch) is staged and done, so the chain follows it.
    assert spec.launch() == []  # nothing new at depth 0
    jobs = _wait_jobs(manager, "s", 2)
    assert sorted(j.canonical for j in jobs) == sorted(
        [canonical_call("fetch", {"url": url}), canonical_call("cite", {"url": url})])
    assert manager.metrics.snapshot("s")["chained_jobs"] == 2
    spec.launch()  # the same turn asked again: fetch is chained from once only
    assert manager.metrics.snapshot("s")["chained_jobs"] == 2
    second = _emit(spec, "fetch", {"url": url}, "call_2")
    spec.on_result("fetch", {"url": url}, second.content, second.ok)
    third = _emit(spec, "cite", {"url": url}, "call_3")
    assert third.content == f"cited {url}"
    snap = manager.metrics.snapshot("s")
    assert (snap["hits_reused"], snap["misses"], snap["speculative_jobs"]) == (3, 0, 3)
    assert runs == [("search", {"q": "paste"}), ("fetch", {"url": url}), ("cite", {"url": url})]
    spec.close()


def test_chain_off_launches_only_the_first_call(world):
    reg, executor, runs = world
    config = SpeculationConfig(max_concurrent_jobs=4, chain=False)
    manager = SpeculationManager(reg, executor, config)
    spec = Speculator(manager, lambda tenant: FakeChainPredictor(), lambda: 0.05).track("s", "t")
    spec.on_user("find paste")
    jobs = _wait_jobs(manager, "s", 1)
    time.sleep(0.1)  # a chained launch would have happened by now
    assert [j.canonical for j in manager.staging.jobs("s")] == [jobs[0].canonical]
    assert manager.metrics.snapshot("s")["chained_jobs"] == 0
    assert runs == [("search", {"q": "paste"})]
    spec.close()


def test_no_chain_without_a_step_time_estimate(world):
    reg, executor, runs = world
    manager = SpeculationManager(reg, executor, SpeculationConfig(max_concurrent_jobs=4))
    spec = Speculator(manager, lambda tenant: FakeChainPredictor(), lambda: None).track("s", "t")
    spec.on_user("find paste")
    time.sleep(0.1)
    # fails closed: no estimate of when the call is emitted, nothing runs at all
    assert manager.staging.jobs("s") == [] and runs == []
    assert manager.metrics.snapshot("s")["rejected"] == {"estimates": 1}
    spec.close()


class FakeShellPredictor:
    """Four calls of one `sh` tool, most probable first: two that write, two that read."""

    def predict(self, state, k, allow=None, tool=None):
        cmds = [("sed -i s/a/b/ f", 0.4), ("rm f", 0.3), ("cat f", 0.2), ("ls", 0.1)]
        return [Prediction("sh", {"cmd": c}, p, 1.0, canonical_call("sh", {"cmd": c}))
                for c, p in cmds][:k]


def test_calls_admission_would_refuse_never_take_a_top_k_slot():
    reg = ToolRegistry()
    ran: list[str] = []

    def effect(arguments):
        return "read_only" if arguments["cmd"].split()[0] in ("cat", "ls") else "side_effect"

    @reg.tool(effect="read_only", effect_for=effect, timeout_s=10)
    def sh(cmd: str) -> str:
        ran.append(cmd)
        return cmd

    executor = ToolExecutor(reg)
    try:
        # No waste bound: with no tool time used yet it would admit only the first candidate.
        config = SpeculationConfig(max_concurrent_jobs=4, max_predictions_per_event=2,
                                   chain=False, learn_latency=False, max_waste_ratio=None)
        manager = SpeculationManager(reg, executor, config)
        speculator = Speculator(manager, lambda tenant: FakeShellPredictor(), lambda: 0.05)
        assert speculator.may_speculate_call("sh", {"cmd": "cat f"})
        assert not speculator.may_speculate_call("sh", {"cmd": "rm f"})
        assert not speculator.may_speculate_call("nope", {})
        spec = speculator.track("s", "t")
        spec.on_user("look at f")
        jobs = _wait_jobs(manager, "s", 2)
        assert sorted(j.arguments["cmd"] for j in jobs) == ["cat f", "ls"]
        assert manager.metrics.snapshot("s")["rejected"] == {}  # no "effect" rejection
        assert sorted(ran) == ["cat f", "ls"]  # nothing that writes ever ran
        spec.close()
    finally:
        executor.shutdown()
        reg.close()
