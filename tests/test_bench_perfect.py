"""ScriptPredictor (paste-perfect's predictor): exactly the replayed session's next recorded
call, with probability 1, nothing past the last call, and nothing for a refused tool."""

from paste.bench.perfect import ScriptPredictor
from paste.bench.script import build_script
from paste.patterns.state import SessionState
from paste.patterns.trace import Step, ToolCall, Trace


def _script():
    trace = Trace("s1", "src", steps=[
        Step("user", text="look up order 7 then cancel it"),
        Step("tool", call=ToolCall("get_order", {"id": 7}), output='{"id": 7}'),
        Step("tool", call=ToolCall("cancel_order", {"id": 7}), output="ok"),
        Step("assistant", text="done"),
    ])  # fmt: skip
    return build_script(trace)


def test_predicts_the_next_recorded_call_and_nothing_after_the_last():
    predictor, state = ScriptPredictor(_script()), SessionState()
    state.add_user("look up order 7 then cancel it")
    (first,) = predictor.predict(state, 5)
    assert (first.name, first.arguments, first.probability) == ("get_order", {"id": 7}, 1.0)
    assert first.canonical == 'get_order{"id":7}' and first.expected_latency_s > 0
    state.add_step(ToolCall("get_order", {"id": 7}), '{"id": 7}')
    assert [p.canonical for p in predictor.predict(state, 5)] == ['cancel_order{"id":7}']
    state.add_step(ToolCall("cancel_order", {"id": 7}), "ok")
    assert predictor.predict(state, 5) == []


def test_k_and_allow_are_honoured():
    predictor, state = ScriptPredictor(_script()), SessionState()
    assert predictor.predict(state, 0) == []
    assert predictor.predict(state, 3, allow=lambda name: name != "get_order") == []
    assert len(predictor.predict(state, 3, allow=lambda name: name == "get_order")) == 1
