"""The invariants of speculation (DESIGN.md), as tests that could fail.

1 Transparency: with the same model outputs, every session's transcript with speculation on is
  byte-identical to the one with it off (end to end on the tiny model with scripted turns, and
  at the call level over thousands of randomized sessions with random tools, latencies,
  predictions and failures).
2 No speculative side effects: a side_effect tool never runs speculatively, whatever is
  predicted.
4 Freshness: a result staged before a side-effecting call is never used after it.
5 Speculative failures are invisible to the session.
"""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from paste.parsing import canonical_call
from paste.speculation import SpeculationConfig, SpeculationManager, Speculator
from paste.speculation.admission import Candidate
from paste.tools import ToolExecutor, ToolJob, ToolRegistry
from test_session_support import FakeScriptedPolicy, call_text, shared_tiny_folder, tiny_engine


class World:
    """Deterministic tools whose every run is logged (speculative or not)."""

    def __init__(self, seed: int) -> None:
        self.registry = ToolRegistry()
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.store: dict[str, str] = {}
        rng = random.Random(seed)
        self.delays = {k: rng.random() * 0.004 for k in "abcdefgh"}
        world = self

        @self.registry.tool(effect="read_only", timeout_s=5)
        def lookup(key: str) -> str:
            world.record("lookup", key)
            time.sleep(world.delays.get(key, 0.0))
            return f"{key}={world.store.get(key, 'unset')}"

        @self.registry.tool(effect="side_effect", timeout_s=5)
        def write(key: str, value: str) -> str:
            world.record("write", key)
            world.store[key] = value
            return "ok"

        @self.registry.tool(effect="read_only", timeout_s=5)
        def flaky(key: str) -> str:
            world.record("flaky", key)
            if key in "aeg":
                raise RuntimeError(f"flaky failed on {key}")
            return f"flaky {key}"

        self.executor = ToolExecutor(self.registry)

    def record(self, tool: str, key: str) -> None:
        with self.lock:
            self.log.append((tool, key))

    def close(self) -> None:
        self.executor.shutdown()
        self.registry.close()


def random_calls(rng: random.Random, n: int) -> list[tuple[str, dict]]:
    calls = []
    for _ in range(n):
        tool = rng.choice(["lookup", "lookup", "write", "flaky"])
        args = {"key": rng.choice("abcdefgh")}
        if tool == "write":
            args["value"] = str(rng.randrange(100))
        calls.append((tool, args))
    return calls


class FakePredictor:
    """Predicts the true next call with some probability, plus random wrong calls (including
    side-effecting ones), with random probabilities: a noisy oracle for the tests."""

    def __init__(self, script: dict[str, list[tuple[str, dict]]], seed: int) -> None:
        self.script, self.rng = script, random.Random(seed)

    def predict(self, state, k, allow=None, tool=None):  # ignores allow: admission must refuse
        from paste.patterns.predictor import Prediction

        task = state_task(state)
        done = len(state.calls)
        calls = self.script.get(task, [])
        out = []
        if done < len(calls) and self.rng.random() < 0.7:
            name, args = calls[done]
            out.append((name, args))
        for _ in range(self.rng.randrange(3)):
            out.append(random_calls(self.rng, 1)[0])
        return [Prediction(n, a, self.rng.uniform(0.2, 1.0), 0.5, canonical_call(n, a))
                for n, a in out][:k]


def state_task(state) -> str:
    return getattr(state, "task_key", "")


def test_call_level_transparency_over_thousands_of_random_sessions():
    rng = random.Random(7)
    for round_ in range(2):
        world_off, world_on = World(round_), World(round_)
        # admission by the budget and the effect class alone: the value rule and the waste
        # bound read measured latencies and waste, which a loaded machine changes
        manager = SpeculationManager(world_on.registry, world_on.executor, SpeculationConfig(
            max_concurrent_jobs=8, waste_price=0.0, max_waste_ratio=None, learn_latency=False))
        for s in range(600):
            calls = random_calls(rng, rng.randint(1, 5))
            sid = f"s{round_}-{s}"
            for i, (name, args) in enumerate(calls):
                cands = [(name, args)] if rng.random() < 0.6 else []
                cands += random_calls(rng, rng.randrange(3))
                manager.speculate(sid, [Candidate(n, a, canonical_call(n, a),
                                                  rng.uniform(0.1, 1), 1.0, 1.0)
                                        for n, a in cands])
                if rng.random() < 0.5:
                    time.sleep(0.0005)
                on = manager.resolve(sid, f"c{i}", name, args, canonical_call(name, args))
                got = on.result(10)
                ref = world_off.executor.submit(ToolJob(f"c{i}", name, args)).result(10)
                assert (got.call_id, got.ok, got.content) == (ref.call_id, ref.ok, ref.content)
            manager.end_session(sid)
        writes_off = [e for e in world_off.log if e[0] == "write"]
        writes_on = [e for e in world_on.log if e[0] == "write"]
        assert writes_on == writes_off  # invariant 2: no speculative side effect ever ran
        snap = manager.metrics.snapshot()
        assert snap["hits"] > 100 and snap["rejected"]["effect"] > 0
        assert manager.budget.in_use == 0
        world_off.close()
        world_on.close()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory), attention_backend="auto")
    yield eng
    eng.shutdown()


def run_sessions(engine, world: World, scripts: dict[str, list], speculator) -> dict[str, str]:
    from paste.session import open_session

    transcripts = {}
    for task, calls in scripts.items():
        turns = [call_text(n, **a) for n, a in calls] + [f"done with {task}"]
        session = open_session(engine, tools=world.registry, system="You are a test agent.",
                               tenant="t", turn_params=FakeScriptedPolicy(engine, turns),
                               executor=world.executor, speculator=speculator, max_turns=10)
        if speculator is not None:
            session.speculation.state.task_key = task
        result = session.run(f"task {task}")
        assert result.status == "completed"
        if speculator is not None:  # the session's own counters, through its metrics
            spec = result.metrics["speculation"]
            assert spec["authoritative_calls"] == len(calls)
            assert spec["hits"] + spec["misses"] >= len(calls)
        transcripts[task] = json.dumps(result.messages, sort_keys=True)
        session.close()
    return transcripts


def test_session_transcripts_identical_with_speculation_on_and_off(engine):
    rng = random.Random(3)
    scripts = {f"task{i}": random_calls(rng, rng.randint(1, 4)) for i in range(12)}
    world_off, world_on = World(1), World(1)
    try:
        off = run_sessions(engine, world_off, scripts, None)
        manager = SpeculationManager(world_on.registry, world_on.executor,
                                     SpeculationConfig(max_concurrent_jobs=4))
        predictor = FakePredictor(scripts, seed=5)
        speculator = Speculator(manager, lambda tenant: predictor, lambda: 0.05)
        on = run_sessions(engine, world_on, scripts, speculator)
        assert on == off  # byte-identical transcripts
        assert [e for e in world_on.log if e[0] == "write"] == \
            [e for e in world_off.log if e[0] == "write"]
        snap = manager.metrics.snapshot()
        assert snap["hits"] > 0 and snap["speculative_jobs"] > 0
        assert snap["authoritative_calls"] == sum(len(c) for c in scripts.values())
    finally:
        world_off.close()
        world_on.close()


def test_a_sessions_calls_are_predicted_by_name_while_the_model_decodes_them(engine):
    """A real session on a real engine: the moment each call's tool name is decoded, that
    tool's calls are asked for (every other tool excluded), for the tools that may run
    speculatively (lookup, flaky), never for the side-effecting write."""
    scripts = {"task0": [("lookup", {"key": "a"}), ("write", {"key": "b", "value": "1"}),
                         ("flaky", {"key": "c"}), ("lookup", {"key": "d"})]}

    class NameRecorder(FakePredictor):
        def __init__(self) -> None:
            super().__init__(scripts, seed=2)
            self.named: list[str] = []

        def predict(self, state, k, allow=None, tool=None):
            allowed = [n for n in ("lookup", "write", "flaky") if allow is None or allow(n)]
            if len(allowed) == 1:
                self.named.append(allowed[0])
            return super().predict(state, k, allow, tool)

    world = World(1)
    try:
        manager = SpeculationManager(world.registry, world.executor,
                                     SpeculationConfig(max_concurrent_jobs=4, name_known=True))
        predictor = NameRecorder()
        run_sessions(engine, world, scripts, Speculator(manager, lambda t: predictor,
                                                        lambda: 0.05))
        assert predictor.named == ["lookup", "flaky", "lookup"]
    finally:
        world.close()
