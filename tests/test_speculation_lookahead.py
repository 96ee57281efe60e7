"""Lookahead (SpeculationConfig.lookahead), with a real ToolRegistry and ToolExecutor: the
moment the model emits a read-only call, the call after it is predicted on a fork where the
emitted call is still running (its output unknown) and launched beside it; never after a
side-effecting call, and not when switched off."""

from __future__ import annotations

import threading
import time

import pytest

from paste.parsing import canonical_call
from paste.patterns.predictor import Prediction
from paste.patterns.state import SessionState
from paste.patterns.trace import ToolCall
from paste.speculation import SpeculationConfig, SpeculationManager, Speculator
from paste.tools.results import ToolJob


class FakeLookaheadPredictor:
    """With no call yet: nothing. After any call: `read(path)` of the path the user named,
    plus a repeat of the last call (which lookahead must drop: its result is coming). Records
    every state it is asked in as (number of calls, pending, latest output's locators)."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, int, dict]] = []

    def predict(self, state, k, allow=None, tool=None):
        outs = state.by_source.get("out", [])
        self.asked.append((len(state.calls), state.pending,
                           dict(state.entries[outs[-1]].locs) if outs else {}))
        if not state.calls:
            return []
        last = state.calls[-1]
        out = [("read", {"path": "notes.txt"}, 0.9), (last.name, dict(last.arguments), 0.8)]
        return [Prediction(n, a, p, 1.0, canonical_call(n, a)) for n, a, p in out
                if allow is None or allow(n)][:k]


@pytest.fixture
def world(tool_world):
    reg, log = tool_world.reg, tool_world.log
    gate = threading.Event()  # holds `slow_list` until the test lets it finish

    @reg.tool(effect="read_only", timeout_s=10)
    def slow_list(folder: str) -> str:
        gate.wait(5)
        log("slow_list")
        return f"{folder}: a.txt b.txt"

    @reg.tool(effect="read_only", timeout_s=10)
    def read(path: str) -> str:
        log("read")
        return f"contents of {path}"

    @reg.tool(effect="side_effect", timeout_s=10)
    def move(src: str) -> str:
        gate.wait(5)
        log("move")
        return "moved"

    yield reg, tool_world.executor, tool_world.runs, gate
    gate.set()


def _track(reg, executor, predictor=None, **config):
    """(manager, predictor, the session's speculation); predictor: a FakeLookaheadPredictor
    unless given."""
    # learn_latency off and no waste bound: the fake tools take microseconds
    cfg = SpeculationConfig(max_concurrent_jobs=4, learn_latency=False, max_waste_ratio=None,
                            **config)
    manager = SpeculationManager(reg, executor, cfg)
    predictor = predictor or FakeLookaheadPredictor()
    spec = Speculator(manager, lambda tenant: predictor, lambda: 0.05).track("s", "t")
    return manager, predictor, spec


def _wait_runs(runs, name, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name in runs:
            return
        time.sleep(0.01)
    raise AssertionError(f"{name} never ran; runs={runs}")


def test_the_next_call_runs_beside_an_emitted_read_only_call_and_is_a_hit(world):
    reg, executor, runs, gate = world
    manager, predictor, spec = _track(reg, executor)
    spec.on_user("list the folder, then read notes.txt")
    first = spec.submit(ToolJob("call_1", "slow_list", {"folder": "docs"}))
    _wait_runs(runs, "read")  # ran while slow_list is still held at the gate
    assert runs == ["read"]
    # asked once at the user message, once with slow_list running: output unknown (empty)
    assert predictor.asked == [(0, 0, {}), (1, 1, {})]
    assert [j.canonical for j in manager.staging.jobs("s")] == [
        canonical_call("read", {"path": "notes.txt"})]  # the repeat of slow_list was dropped
    assert manager.metrics.snapshot("s")["lookahead_jobs"] == 1
    gate.set()
    result = first.result(5)
    spec.on_result("slow_list", {"folder": "docs"}, result.content, result.ok)
    second = spec.submit(ToolJob("call_2", "read", {"path": "notes.txt"})).result(5)
    assert (second.call_id, second.content) == ("call_2", "contents of notes.txt")
    snap = manager.metrics.snapshot("s")
    assert (snap["hits_reused"], snap["misses"]) == (1, 1)  # slow_list itself was a miss
    assert runs == ["read", "slow_list"]  # the hit reused the speculative run of read
    spec.close()


def test_no_lookahead_after_a_side_effecting_call(world):
    reg, executor, runs, gate = world
    manager, predictor, spec = _track(reg, executor)
    spec.on_user("move it")
    future = spec.submit(ToolJob("call_1", "move", {"src": "a"}))
    time.sleep(0.1)  # a lookahead launch would have happened by now
    assert predictor.asked == [(0, 0, {})] and runs == []
    assert manager.metrics.snapshot("s")["lookahead_jobs"] == 0
    gate.set()
    assert future.result(5).content == "moved"
    spec.close()


def test_no_lookahead_while_an_earlier_side_effecting_call_of_the_turn_runs(world):
    reg, executor, runs, gate = world
    manager, predictor, spec = _track(reg, executor)
    spec.on_user("move it, then list")
    moving = spec.submit(ToolJob("call_1", "move", {"src": "a"}))
    listing = spec.submit(ToolJob("call_2", "slow_list", {"folder": "docs"}))
    time.sleep(0.1)
    assert predictor.asked == [(0, 0, {})] and runs == []
    gate.set()
    assert (moving.result(5).content, listing.result(5).content) == ("moved", "docs: a.txt b.txt")
    spec.close()


def test_lookahead_off_asks_nothing_at_dispatch(world):
    reg, executor, runs, gate = world
    manager, predictor, spec = _track(reg, executor, lookahead=False)
    spec.on_user("list the folder")
    future = spec.submit(ToolJob("call_1", "slow_list", {"folder": "docs"}))
    time.sleep(0.1)
    assert predictor.asked == [(0, 0, {})] and runs == []
    gate.set()
    assert future.result(5).ok
    assert manager.metrics.snapshot("s")["lookahead_jobs"] == 0
    spec.close()


def test_a_result_ends_the_calls_running_state(world):
    reg, executor, runs, gate = world
    gate.set()
    manager, predictor, spec = _track(reg, executor)
    spec.on_user("list twice")
    first = spec.submit(ToolJob("call_1", "slow_list", {"folder": "docs"})).result(5)
    spec.on_result("slow_list", {"folder": "docs"}, first.content, first.ok)
    spec.submit(ToolJob("call_2", "slow_list", {"folder": "src"})).result(5)
    # the second dispatch's fork has the first call with its real output, the second pending
    assert [(n, p) for n, p, _ in predictor.asked] == [(0, 0), (1, 1), (2, 1)]
    assert predictor.asked[2][2] == {}
    spec.close()


def test_add_pending_hides_the_running_calls_output_from_rules():
    state = SessionState()
    state.add_user("read notes.txt")
    state.add_step(ToolCall("slow_list", {"folder": "docs"}), "docs: a.txt")
    fork = state.fork()
    fork.add_pending(ToolCall("slow_list", {"folder": "src"}))
    assert (fork.pending, len(fork.calls), state.pending, len(state.calls)) == (1, 2, 0, 1)
    # "the latest output" is the running call's (empty), not the earlier one's
    assert fork.entries[fork.by_source["out"][-1]].locs == {}
    assert fork.fork().pending == 1


def test_an_unknown_tool_is_not_looked_past(world):
    reg, executor, runs, gate = world
    manager, predictor, spec = _track(reg, executor)
    spec.on_user("use a tool that does not exist")
    resolved = spec.submit(ToolJob("call_1", "no_such_tool", {"x": 1}))
    time.sleep(0.1)
    assert predictor.asked == [(0, 0, {})] and runs == []
    assert manager.metrics.snapshot("s")["misses"] == 1
    assert resolved.result(5).ok is False
    spec.close()


class FakeFailingPredictor:
    """Raises whenever it is asked ahead of a result, or always (a predictor bug)."""

    def __init__(self, always: bool = False) -> None:
        self.always = always

    def predict(self, state, k, allow=None, tool=None):
        if state.pending or self.always:
            raise RuntimeError("fake predictor bug")
        return []


def test_a_failing_lookahead_loses_nothing(world, caplog):
    reg, executor, runs, gate = world
    gate.set()
    manager, _predictor, spec = _track(reg, executor, FakeFailingPredictor())
    spec.on_user("list the folder")
    with caplog.at_level("ERROR", logger="paste.speculation.speculator"):
        result = spec.submit(ToolJob("call_1", "slow_list", {"folder": "docs"})).result(5)
    assert (result.call_id, result.ok, result.content) == ("call_1", True, "docs: a.txt b.txt")
    assert runs == ["slow_list"]
    assert [r.getMessage() for r in caplog.records] == [
        "lookahead after 'slow_list' failed; the call runs as emitted"]
    assert manager.metrics.snapshot("s")["misses"] == 1
    spec.close()


def test_a_failing_prediction_at_a_user_message_speculates_nothing_and_loses_nothing(
        world, caplog):
    reg, executor, runs, gate = world
    gate.set()
    manager, _predictor, spec = _track(reg, executor, FakeFailingPredictor(always=True))
    with caplog.at_level("ERROR", logger="paste.speculation.speculator"):
        spec.on_user("list the folder")
        assert spec.launch() == []
        result = spec.submit(ToolJob("call_1", "slow_list", {"folder": "docs"})).result(5)
    assert (result.ok, result.content) == (True, "docs: a.txt b.txt")
    assert [r.getMessage() for r in caplog.records] == [
        "predicting the next calls of session s failed; nothing is speculated"] * 2 + [
        "lookahead after 'slow_list' failed; the call runs as emitted"]
    assert manager.staging.jobs("s") == [] and runs == ["slow_list"]
    spec.close()
