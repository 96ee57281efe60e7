"""Co-scheduling priority of returning turns: exact values of the policy, and the session
passing the boosted priority to the engine for a turn that returns from tools."""

import pytest

from paste.errors import InvalidArgumentError
from paste.session.priority import CoSchedulingPolicy


def test_policy_values_are_exact():
    p = CoSchedulingPolicy(returning_boost=1.0, aging_weight=0.1, aging_cap_s=30.0,
                           kv_high_water=0.9)
    assert p.priority(0.0, returning=False, waited_s=5.0, kv_usage=0.1) == 0.0
    assert p.priority(0.0, returning=True, waited_s=5.0, kv_usage=0.1) == pytest.approx(1.5)
    assert p.priority(2.0, returning=True, waited_s=100.0, kv_usage=None) == pytest.approx(6.0)
    assert p.priority(2.0, returning=True, waited_s=-1.0, kv_usage=0.5) == pytest.approx(3.0)
    assert p.priority(0.0, returning=True, waited_s=5.0, kv_usage=0.95) == 0.0  # KV pressure
    assert CoSchedulingPolicy(enabled=False).priority(0.0, True, 5.0, 0.1) == 0.0
    with pytest.raises(InvalidArgumentError):
        CoSchedulingPolicy(kv_high_water=0.0)


class FakeEngineRecorder:
    """Wraps a real engine and records the priority of each submitted turn."""

    def __init__(self, engine):
        self._engine, self.priorities = engine, []

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def submit_turn(self, key, ids, params, priority=0.0, pin_ttl_s=30.0):
        self.priorities.append(priority)
        return self._engine.submit_turn(key, ids, params, priority, pin_ttl_s)


def test_returning_turn_gets_the_boost(tmp_path_factory):
    from paste.session import open_session
    from paste.tools import ToolExecutor, ToolRegistry
    from test_session_support import FakeScriptedPolicy, call_text, shared_tiny_folder, tiny_engine

    engine = tiny_engine(shared_tiny_folder(tmp_path_factory))
    registry = ToolRegistry()

    @registry.tool(effect="read_only")
    def echo(text: str) -> str:
        return text

    executor = ToolExecutor(registry)
    try:
        rec = FakeEngineRecorder(engine)
        policy = CoSchedulingPolicy(returning_boost=1.0, aging_weight=0.0, kv_high_water=1.0)
        s = open_session(rec, tools=registry, executor=executor, priority=0.5,
                         coscheduling=policy,
                         turn_params=FakeScriptedPolicy(engine, [call_text("echo", text="x"),
                                                                 "done"]))
        assert s.run("go").status == "completed"
        assert rec.priorities == [0.5, 1.5]  # the first turn is new, the second returns
        s.close()
    finally:
        executor.shutdown()
        engine.shutdown()
