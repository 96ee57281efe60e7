"""Speculation through the engine's trie matcher, on the tiny model with scripted (teacher-forced)
hermes turns: a queued speculative job is promoted on CONFIRMED, before the parser completes the
call, and counted as one hit; a queued candidate the call REFUTES is withdrawn and never runs;
the transcript stays byte-identical to speculation off. Plus the manager's early-promotion
paths (stale, running, failed results naming the emitted call)."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from paste.parsing import canonical_call
from paste.patterns.predictor import Prediction
from paste.session import open_session
from paste.session.events import ToolCallEvent
from paste.speculation import SpeculationConfig, SpeculationManager, Speculator
from paste.speculation.admission import Candidate
from paste.speculation.rendering import render_candidate, scan_for_format
from paste.tools import ToolExecutor, ToolJob, ToolRegistry
from test_session_support import FakeScriptedPolicy, shared_tiny_folder, tiny_engine


# The fake tools here take microseconds; admission must see the estimates the candidates
# carry (learned latencies have their own tests: test_speculation_latency.py).
def fixed(**options):
    # No waste bound either: microsecond tools use almost no tool time, so it would admit only
    # a session's first job (the bound has its own tests: test_speculation_waste.py).
    return SpeculationConfig(learn_latency=False, max_waste_ratio=None, **options)


def hermes(name: str, **arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


class World:
    """One read_only tool with max_concurrency=1; key "block" holds the slot until `gate`."""

    def __init__(self) -> None:
        self.registry = ToolRegistry()
        self.gate = threading.Event()
        self.log: list[str] = []
        world = self

        @self.registry.tool(effect="read_only", timeout_s=20, max_concurrency=1)
        def slow(key: str) -> str:
            world.log.append(key)
            if key == "block":
                world.gate.wait(20)
            return f"slow {key}"

        self.executor = ToolExecutor(self.registry)

    def block(self) -> None:
        """An authoritative job of another client takes the tool's only slot."""
        self.blocker = self.executor.submit(ToolJob("blocker", "slow", {"key": "block"}))
        for _ in range(2000):
            if self.log == ["block"]:
                return
            time.sleep(0.005)
        raise AssertionError("the blocker never started")

    def close(self) -> None:
        self.gate.set()
        self.executor.shutdown()
        self.registry.close()


class Once:
    """Predicts `calls` at the session's first event, nothing afterwards."""

    def __init__(self, calls: list[tuple[str, dict]]) -> None:
        self.calls = calls

    def predict(self, state, k, allow=None, tool=None):  # ignores allow: admission must refuse
        calls, self.calls = self.calls, []
        return [Prediction(n, a, 0.9, 1.0, canonical_call(n, a)) for n, a in calls][:k]


def predictor_for(predictor):
    return lambda tenant: predictor


class Recording(SpeculationManager):
    """Records the order in which the trie's verdicts and the parser's calls reach it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.order: list[tuple[str, object]] = []

    def promote_early(self, session_id, cand_id):
        done = super().promote_early(session_id, cand_id)
        self.order.append(("promote_early", done))
        return done

    def cancel_refuted(self, session_id, cand_ids):
        withdrawn = super().cancel_refuted(session_id, cand_ids)
        self.order.append(("cancel_refuted", len(withdrawn)))
        return withdrawn

    def restart_confirmed(self, job):
        done = super().restart_confirmed(job)
        self.order.append(("restart_confirmed", done))
        return done

    def resolve(self, session_id, call_id, name, arguments, canonical):
        out = super().resolve(session_id, call_id, name, arguments, canonical)
        self.order.append(("resolve", out.kind))
        return out


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory))
    yield eng
    eng.shutdown()


@pytest.fixture
def world():
    w = World()
    yield w
    w.close()


def run(engine, world, speculator, script):
    """Runs the scripted session; opens the gate when the model's call is announced."""
    session = open_session(engine, tools=world.registry, parser="hermes",
                           turn_params=FakeScriptedPolicy(engine, script),
                           executor=world.executor, speculator=speculator, max_turns=4)
    seen = {}
    for event in session.stream("go"):
        if isinstance(event, ToolCallEvent):
            if speculator is not None:
                seen = dict(speculator.manager.metrics.snapshot(session.session_id))
            world.gate.set()
    result = session.result()
    session.close()
    return result, seen


SCRIPT = [hermes("slow", key="a"), "done"]


def test_confirmed_queued_job_is_promoted_before_the_call_completes(engine, world):
    world.block()
    manager = Recording(world.registry, world.executor, fixed(max_concurrent_jobs=4))
    speculator = Speculator(manager, predictor_for(Once([("slow", {"key": "a"})])), lambda: 0.05)
    result, at_call = run(engine, world, speculator, SCRIPT)
    assert result.status == "completed"
    assert manager.order == [("promote_early", True), ("resolve", "promoted")]
    assert (at_call["promoted_early"], at_call["hits_promoted"], at_call["misses"]) == (1, 1, 0)
    spec = result.metrics["speculation"]
    assert (spec["hits"], spec["hits_promoted"], spec["misses"], spec["speculative_jobs"],
            spec["promoted_early"], spec["refuted_cancelled"]) == (1, 1, 0, 1, 1, 0)
    assert world.log == ["block", "a"]  # a ran once, in the authoritative lane
    assert manager.budget.in_use == 0
    tool_message = result.messages[-2]
    assert tool_message == {"role": "tool", "tool_call_id": "call_1", "name": "slow",
                            "content": "slow a"}
    world.log.clear()
    reference, _ = run(engine, world, None, SCRIPT)
    assert json.dumps(reference.messages, sort_keys=True) == \
        json.dumps(result.messages, sort_keys=True)  # invariant 1


def test_refuted_queued_candidate_is_withdrawn_and_never_runs(engine, world):
    world.block()
    manager = Recording(world.registry, world.executor, fixed(max_concurrent_jobs=4))
    speculator = Speculator(manager, predictor_for(Once([("slow", {"key": "b"})])), lambda: 0.05)
    result, at_call = run(engine, world, speculator, SCRIPT)
    assert result.status == "completed"
    assert manager.order == [("cancel_refuted", 1), ("resolve", "miss")]
    assert (at_call["refuted_cancelled"], at_call["misses"], at_call["hits"]) == (1, 1, 0)
    assert world.log == ["block", "a"]  # b never ran
    assert manager.budget.in_use == 0
    assert result.messages[-2]["content"] == "slow a"


def test_candidate_refuted_by_the_first_call_is_confirmed_by_the_second(engine, world):
    world.block()
    manager = Recording(world.registry, world.executor, fixed(max_concurrent_jobs=4))
    speculator = Speculator(manager, predictor_for(Once([("slow", {"key": "b"})])), lambda: 0.05)
    script = [hermes("slow", key="a") + hermes("slow", key="b"), "done"]
    result, _ = run(engine, world, speculator, script)
    assert result.status == "completed"
    # call a refutes b (withdrawn: it never ran); call b confirms it: restarted at once
    assert manager.order == [("cancel_refuted", 1), ("resolve", "miss"),
                             ("restart_confirmed", True), ("resolve", "promoted")]
    spec = result.metrics["speculation"]
    assert (spec["refuted_cancelled"], spec["promoted_early"], spec["hits_promoted"],
            spec["misses"]) == (1, 1, 1, 1)
    assert sorted(world.log) == ["a", "b", "block"]  # b ran once
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["slow a", "slow b"]


def test_trie_switched_off_leaves_promotion_to_the_parser(engine, world):
    world.block()
    manager = Recording(world.registry, world.executor,
                        fixed(max_concurrent_jobs=4, enable_trie=False))
    speculator = Speculator(manager, predictor_for(Once([("slow", {"key": "a"})])), lambda: 0.05)
    result, _ = run(engine, world, speculator, SCRIPT)
    assert manager.order == [("resolve", "promoted")]
    spec = result.metrics["speculation"]
    assert (spec["hits_promoted"], spec["promoted_early"], spec["misses"]) == (1, 0, 0)


# ----- the manager's early-promotion paths, without a model ---------------------------------

def cand(key: str) -> Candidate:
    args = {"key": key}
    return Candidate("slow", args, canonical_call("slow", args), 0.9, 1.0, 1.0)


def test_restart_confirmed_refuses_a_stale_or_restaged_call(world):
    world.block()
    m = SpeculationManager(world.registry, world.executor, fixed())
    m.speculate("s", [cand("x"), cand("y")])
    x, y = sorted(m.staging.jobs("s"), key=lambda j: j.arguments["key"])
    withdrawn = m.cancel_refuted("s", [x.cand_id, y.cand_id])
    assert sorted(j.arguments["key"] for j in withdrawn) == ["x", "y"]
    assert m.staging.jobs("s") == []
    m.speculate("s", [cand("y")])  # y is staged again: restarting the old one would run it twice
    assert m.restart_confirmed(y) is False
    m.staging.bump_epoch("s")  # a side-effecting call ran since x was staged
    assert m.restart_confirmed(x) is False
    snap = m.metrics.snapshot("s")
    assert (snap["refuted_cancelled"], snap["promoted_early"]) == (2, 0)
    world.gate.set()
    assert world.blocker.result(10).ok
    time.sleep(0.1)
    assert "x" not in world.log  # never restarted


def test_promote_early_leaves_running_stale_and_unknown_jobs_alone(world):
    m = SpeculationManager(world.registry, world.executor, fixed())
    m.speculate("s", [cand("block")])
    for _ in range(2000):
        if world.log == ["block"]:
            break
        time.sleep(0.005)
    running = m.staging.jobs("s")[0]
    assert m.promote_early("s", running.cand_id) is False  # running: awaited at resolve
    assert m.promote_early("s", 999) is False  # not a candidate of this session
    m.speculate("s", [cand("x")])
    queued = next(j for j in m.staging.jobs("s") if j.arguments == {"key": "x"})
    m.staging.bump_epoch("s")  # a side-effecting call ran: x is stale
    assert m.promote_early("s", queued.cand_id) is False
    assert m.metrics.snapshot("s")["promoted_early"] == 0
    world.gate.set()


def test_early_promoted_job_that_fails_names_the_emitted_call(world):
    m = SpeculationManager(world.registry, world.executor, fixed())
    world.block()
    m.speculate("s", [cand("y")])
    job = m.staging.jobs("s")[0]
    assert m.promote_early("s", job.cand_id) is True
    assert m.promote_early("s", job.cand_id) is False  # promoted once
    out = m.resolve("s", "call_9", "slow", {"key": "y"}, canonical_call("slow", {"key": "y"}))
    out.cancel()
    res = out.result(10)
    assert (out.kind, res.call_id, res.ok, res.error_kind) == ("promoted", "call_9", False,
                                                               "cancelled")
    assert "'call_9'" in res.content and job.call_id not in res.content
    assert m.metrics.snapshot("s")["hits_promoted"] == 1
    world.gate.set()


def test_rendering_per_format():
    assert render_candidate("hermes", "f", {"q": "é"}) == '\n{"name": "f", "arguments": {"q": "é"}}'
    assert render_candidate("json", "f", {}) == '{"name": "f", "arguments": {}}'
    assert render_candidate("llama3_json", "f", {"a": 1}) == '{"name": "f", "parameters": {"a": 1}}'
    assert render_candidate("pythonic", "f", {}) is None
    assert scan_for_format("pythonic") is None
    assert scan_for_format("hermes").start_tag == "<tool_call>"


# ----- invariant 1 with the trie acting: randomized sessions, queued candidates ---------------

class Noisy:
    """Seeded noisy oracle of one session: the true next call with probability 0.6, plus one
    or two random calls (side-effecting ones included). Records its first prediction."""

    def __init__(self, calls: list[tuple[str, dict]], seed: int) -> None:
        self.calls, self.rng = calls, random.Random(seed)
        self.first: list[tuple[str, dict]] | None = None

    def predict(self, state, k, allow=None, tool=None):  # ignores allow: admission must refuse
        done = len(state.calls)
        out = [self.calls[done]] if done < len(self.calls) and self.rng.random() < 0.6 else []
        out += random_calls(self.rng, self.rng.randint(1, 2))
        if self.first is None:
            self.first = out[:k]
        return [Prediction(n, a, 0.9, 1.0, canonical_call(n, a)) for n, a in out][:k]


def random_calls(rng: random.Random, n: int) -> list[tuple[str, dict]]:
    calls = []
    for _ in range(n):
        key = rng.choice("abcdefgh")
        calls.append(("write", {"key": key, "value": str(rng.randrange(9))})
                     if rng.random() < 0.25 else ("slow", {"key": key}))
    return calls


def add_write(world: World) -> None:
    @world.registry.tool(effect="side_effect", timeout_s=20)
    def write(key: str, value: str) -> str:
        world.log.append(f"write {key}={value}")
        return f"wrote {key}"


def test_randomized_transcripts_identical_with_the_trie_acting(engine):
    rng = random.Random(11)
    scripts = {f"t{i}": random_calls(rng, rng.randint(1, 3)) for i in range(10)}
    off, on = World(), World()
    add_write(off)
    add_write(on)
    off.gate.set()
    config = fixed(max_concurrent_jobs=8)
    manager = SpeculationManager(on.registry, on.executor, config)
    predictors = {task: Noisy(calls, seed=i) for i, (task, calls) in enumerate(scripts.items())}
    speculator = Speculator(manager, lambda tenant: predictors[tenant], lambda: 0.05)
    expect_confirmed = expect_refuted = 0
    try:
        for task, calls in scripts.items():
            script = [hermes(n, **a) for n, a in calls] + [f"done with {task}"]
            on.gate.clear()
            on.log.clear()
            off.log.clear()
            on.block()  # the first turn's speculative jobs all stay queued until its call
            texts = []
            for world, sp in ((off, None), (on, speculator)):
                session = open_session(engine, tools=world.registry, parser="hermes",
                                       tenant=task, turn_params=FakeScriptedPolicy(engine, script),
                                       executor=world.executor, speculator=sp, max_turns=6)
                for event in session.stream(f"task {task}"):
                    if isinstance(event, ToolCallEvent):
                        world.gate.set()
                assert session.result().status == "completed"
                texts.append(json.dumps(session.result().messages, sort_keys=True))
                session.close()
            assert texts[0] == texts[1]  # byte-identical transcripts
            writes = [[e for e in w.log if e.startswith("write")] for w in (off, on)]
            assert writes[0] == writes[1]  # no speculative side effect ever ran
            admitted = {canonical_call(n, a) for n, a in predictors[task].first if n == "slow"}
            if canonical_call(*calls[0]) in admitted:
                expect_confirmed += 1
            else:
                expect_refuted += len(admitted)
        snap = manager.metrics.snapshot()
        assert expect_confirmed > 0 and expect_refuted > 0  # both trie paths are exercised
        assert snap["promoted_early"] >= expect_confirmed
        assert snap["refuted_cancelled"] >= expect_refuted
        assert manager.budget.in_use == 0
    finally:
        off.close()
        on.close()


@pytest.mark.parametrize("offered", [True, False])
def test_a_sessions_predictions_know_the_tools_its_registry_offers(engine, world, offered):
    manager = Recording(world.registry, world.executor, fixed(max_concurrent_jobs=4))
    speculator = Speculator(manager, lambda tenant: None, lambda: 0.01, offered_tools=offered)
    session = open_session(engine, tools=world.registry, parser="hermes",
                           turn_params=FakeScriptedPolicy(engine, ["done"]),
                           executor=world.executor, speculator=speculator)
    try:
        expected = frozenset(world.registry.names()) if offered else None
        assert session.speculation.state.tools == expected
    finally:
        session.close()


@pytest.mark.parametrize(("system", "today"), [
    ("You book flights. The current time is 2024-05-15 15:00:00 EST.", "2024-05-15"),
    ("You book flights.", None),
    (None, None),
])
def test_a_sessions_state_is_dated_by_its_system_prompt(engine, world, system, today):
    manager = Recording(world.registry, world.executor, fixed(max_concurrent_jobs=4))
    speculator = Speculator(manager, lambda tenant: None, lambda: 0.01)
    session = open_session(engine, tools=world.registry, parser="hermes", system=system,
                           turn_params=FakeScriptedPolicy(engine, ["done"]),
                           executor=world.executor, speculator=speculator)
    try:
        assert session.speculation.state.today == today
        session.run("move it to May 24th")
        dates = [v for k, v in session.speculation.state.entries[-1].locs.items()
                 if k.startswith("s:date")]
        assert dates == ([] if today is None else ["2024-05-24"])
    finally:
        session.close()
