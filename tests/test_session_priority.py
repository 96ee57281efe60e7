"""Co-scheduling priority of returning turns: exact values of every branch of the policy
(aging, shortest expected work, hidden tool time, the KV band, new turns under pressure),
invalid parameters, the session's outlook, and the session passing the exact priority to the
engine."""

import math

import pytest

from paste.errors import InvalidArgumentError
from paste.session.metrics import TurnMetrics
from paste.session.priority import CoSchedulingPolicy, outlook

# Binary-exact weights so that every expected value below is exact.
P = CoSchedulingPolicy(returning_boost=1.0, aging_weight=0.5, aging_cap_s=4.0, work_weight=2.0,
                       work_scale_tokens=8.0, hide_weight=0.25, hide_cap_s=2.0,
                       kv_low_water=0.5, kv_high_water=0.75, new_turn_penalty=3.0)


def test_raw_boost_terms():
    # 1 + 0.5 * 2 + 2 * 8 / (8 + 8) + 0.25 * 1
    assert P.raw_boost(2.0, 8.0, 1.0) == 3.25
    assert P.raw_boost(0.0, None, None) == 1.0  # unknown work and tool time add nothing
    assert P.raw_boost(100.0, None, None) == 3.0  # aging capped at 4 s
    assert P.raw_boost(-5.0, None, None) == 1.0  # a negative wait counts as 0
    assert P.raw_boost(0.0, 0.0, None) == 3.0  # no expected work: the whole work weight
    assert P.raw_boost(0.0, 24.0, None) == 1.5  # 2 * 8 / 32
    assert P.raw_boost(0.0, None, 100.0) == 1.5  # hidden tool time capped at 2 s
    assert P.raw_boost(0.0, None, -1.0) == 1.0


def test_shortest_expected_work_goes_first():
    short = P.priority(0.0, True, 1.0, 0.1, expected_tokens=8.0, expected_tool_s=0.5)
    long = P.priority(0.0, True, 1.0, 0.1, expected_tokens=56.0, expected_tool_s=0.5)
    assert (short, long) == (2.625, 1.875)  # 1 + 0.5 + {1, 0.25} + 0.125


def test_more_hidden_tool_time_goes_first():
    assert P.priority(0.0, True, 0.0, None, None, 2.0) == 1.5
    assert P.priority(0.0, True, 0.0, None, None, 0.4) == pytest.approx(1.1, abs=1e-12)


def test_kv_band_scales_the_boost():
    assert P.kv_factor(None) == 1.0
    assert P.kv_factor(0.5) == 1.0  # at the band's bottom: full boost
    assert P.kv_factor(0.625) == 0.5  # halfway: half
    assert P.kv_factor(0.75) == 0.0  # at the top: none
    assert P.kv_factor(0.95) == 0.0
    assert P.priority(2.0, True, 2.0, None, 8.0, 1.0) == 5.25
    assert P.priority(2.0, True, 2.0, 0.25, 8.0, 1.0) == 5.25
    assert P.priority(2.0, True, 2.0, 0.625, 8.0, 1.0) == 3.625
    assert P.priority(2.0, True, 2.0, 0.75, 8.0, 1.0) == 2.0
    assert P.priority(2.0, True, 2.0, 0.9, 8.0, 1.0) == 2.0


def test_new_turns_are_lowered_only_above_the_band():
    assert P.priority(2.0, False, 9.0, None, 8.0, 1.0) == 2.0
    assert P.priority(2.0, False, 9.0, 0.6, 8.0, 1.0) == 2.0
    assert P.priority(2.0, False, 9.0, 0.75, 8.0, 1.0) == 2.0  # at the top: not above it
    assert P.priority(2.0, False, 9.0, 0.8, 8.0, 1.0) == -1.0
    # Above the band returning turns (base) still go before new ones (base - penalty).
    assert P.priority(2.0, True, 0.0, 0.8) > P.priority(2.0, False, 0.0, 0.8)


def test_a_band_of_zero_width_is_a_step():
    step = CoSchedulingPolicy(kv_low_water=0.6, kv_high_water=0.6, aging_weight=0.0,
                              work_weight=0.0, hide_weight=0.0)
    assert [step.kv_factor(u) for u in (0.59, 0.6, 0.61)] == [1.0, 1.0, 0.0]
    assert step.priority(0.0, True, 0.0, 0.6) == 1.0


def test_disabled_policy_is_the_base_priority():
    off = CoSchedulingPolicy(enabled=False)
    assert off.priority(0.5, True, 5.0, 0.1, 1.0, 1.0) == 0.5
    assert off.priority(0.5, False, 5.0, 0.99) == 0.5


@pytest.mark.parametrize("kwargs", [
    {"returning_boost": -1.0}, {"aging_weight": -0.1}, {"aging_cap_s": -1.0},
    {"work_weight": -1.0}, {"hide_weight": -1.0}, {"hide_cap_s": -0.5},
    {"new_turn_penalty": -1.0}, {"aging_weight": math.nan},
    {"work_scale_tokens": 0.0}, {"work_scale_tokens": math.nan},
    {"kv_high_water": 0.0, "kv_low_water": 0.0}, {"kv_high_water": 1.5},
    {"kv_low_water": -0.1}, {"kv_low_water": 0.8, "kv_high_water": 0.7},
    {"work_window": 0},
])
def test_invalid_parameters_raise(kwargs):
    with pytest.raises(InvalidArgumentError):
        CoSchedulingPolicy(**kwargs)


def turn(index, tokens, calls):
    return TurnMetrics(index=index, started_at=0.0, model_s=0.0, ttft_s=None,
                       num_prompt_tokens=10, num_cached_tokens=0, num_output_tokens=tokens,
                       num_tool_calls=calls, tool_wait_s=0.0, finish_reason="stop")


def test_outlook_of_a_session():
    assert outlook([], 0.0, 4) == (None, None)
    turns = [turn(0, 100, 1), turn(1, 10, 2), turn(2, 20, 0), turn(3, 30, 1)]
    assert outlook(turns, 3.0, 4) == (40.0, 1.0)  # (100+10+20+30)/4; 3 s over 3 calling turns
    assert outlook(turns, 3.0, 2) == (25.0, 1.0)  # the last two turns only
    assert outlook([turn(0, 7, 0)], 0.0, 4) == (7.0, None)


class FakeEngineRecorder:
    """Wraps a real engine and records the priority of each submitted turn."""

    def __init__(self, engine):
        self._engine, self.priorities = engine, []

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def submit_turn(self, key, ids, params, priority=0.0, pin_ttl_s=30.0):
        self.priorities.append(priority)
        return self._engine.submit_turn(key, ids, params, priority, pin_ttl_s)


def test_returning_and_follow_up_turns_get_the_boost(tmp_path_factory):
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
        policy = CoSchedulingPolicy(returning_boost=1.0, aging_weight=0.0, work_weight=2.0,
                                    work_scale_tokens=8.0, hide_weight=0.25, kv_high_water=1.0,
                                    kv_low_water=1.0)
        s = open_session(rec, tools=registry, executor=executor, priority=0.5,
                         coscheduling=policy,
                         turn_params=FakeScriptedPolicy(engine, [call_text("echo", text="x"),
                                                                 "done"]))
        result = s.run("go")
        assert result.status == "completed"
        n = result.metrics["turns"][0]["num_output_tokens"]  # the call turn's length
        tool_s = result.metrics["tool_s"]  # its one call's tool time
        assert n == len(engine.encode(call_text("echo", text="x"))) + 1  # + end of sequence
        # The first turn is new (base); the second returns: 1 + 2 * 8 / (8 + n) + 0.25 * tool_s.
        assert rec.priorities[0] == 0.5
        assert rec.priorities[1] == pytest.approx(1.5 + 2.0 * 8.0 / (8.0 + n) + 0.25 * tool_s,
                                                  rel=1e-12)
        assert len(rec.priorities) == 2
        # The user's follow-up (the same script again: a call turn, then its return) continues
        # the task, its KV parked: boosted like a return, its expected work the mean of the two
        # turns so far, the same tool time per call turn. Only a session's first turn is new.
        again = s.run("and now?")
        assert again.status == "completed"
        mean = (n + again.metrics["turns"][1]["num_output_tokens"]) / 2
        assert rec.priorities[2] == pytest.approx(
            1.5 + 2.0 * 8.0 / (8.0 + mean) + 0.25 * tool_s, rel=1e-12)
        assert len(rec.priorities) == 4
        s.close()
    finally:
        executor.shutdown()
        engine.shutdown()
