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


def _lookahead_script():
    trace = Trace("s2", "src", steps=[
        Step("user", text="list the folder docs and read notes.txt"),
        Step("tool", call=ToolCall("ls", {"folder": "docs"}), output="a.txt secret.txt"),
        Step("tool", call=ToolCall("read", {"path": "notes.txt"}), output="n"),
        Step("tool", call=ToolCall("read", {"path": "secret.txt"}), output="s"),
        Step("user", text="now list src"),
        Step("tool", call=ToolCall("ls", {"folder": "src"}), output="m.py"),
        Step("assistant", text="done"),
    ])  # fmt: skip
    return build_script(trace)


def test_ahead_of_a_result_it_predicts_only_what_the_session_could_know():
    predictor, state = ScriptPredictor(_lookahead_script()), SessionState()
    state.add_user("list the folder docs and read notes.txt")
    ahead = state.fork()
    ahead.add_pending(ToolCall("ls", {"folder": "docs"}))
    # notes.txt is in the user's message: knowable while ls still runs
    assert [p.canonical for p in predictor.predict(ahead, 5)] == ['read{"path":"notes.txt"}']
    state.add_step(ToolCall("ls", {"folder": "docs"}), "a.txt secret.txt")
    ahead = state.fork()
    ahead.add_pending(ToolCall("read", {"path": "notes.txt"}))
    # secret.txt came from ls's output, which the session has seen: knowable
    assert [p.canonical for p in predictor.predict(ahead, 5)] == ['read{"path":"secret.txt"}']
    ahead = state.fork()
    ahead.add_pending(ToolCall("read", {"path": "notes.txt"}))
    ahead.add_pending(ToolCall("read", {"path": "secret.txt"}))
    # the next call is after a user message the session has not seen: nothing
    assert predictor.predict(ahead, 5) == []


def test_a_value_only_in_the_running_calls_output_is_not_predicted():
    trace = Trace("s3", "src", steps=[
        Step("user", text="list docs and read the first file"),
        Step("tool", call=ToolCall("ls", {"folder": "docs"}), output="first.txt"),
        Step("tool", call=ToolCall("read", {"path": "first.txt"}), output="x"),
    ])  # fmt: skip
    predictor, state = ScriptPredictor(build_script(trace)), SessionState()
    state.add_user("list docs and read the first file")
    ahead = state.fork()
    ahead.add_pending(ToolCall("ls", {"folder": "docs"}))
    assert predictor.predict(ahead, 5) == []  # first.txt exists only in ls's output
    state.add_step(ToolCall("ls", {"folder": "docs"}), "first.txt")
    assert [p.canonical for p in predictor.predict(state, 5)] == ['read{"path":"first.txt"}']
