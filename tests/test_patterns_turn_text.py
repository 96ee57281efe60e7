"""The turn's own text (SessionState.add_turn, replay(turn_text=True)): visible only while it
is the latest entry, never a template's reason to make a value a hole, mined as a rule source,
and used by predictions given the tool."""

from __future__ import annotations

from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.replay import replay
from paste.patterns.state import SessionState
from paste.patterns.templates import extract
from paste.patterns.trace import Step, ToolCall, Trace


def test_a_turn_entry_is_visible_only_while_it_is_the_latest():
    state = SessionState()
    state.add_user("fix the bug")
    state.add_turn("Let me open src/app.py first.")
    rule = ("turn", "b1", "s:path:0")
    assert state.resolve(rule) == "src/app.py"
    assert state.resolve(("turn", "", "s:path:0")) == "src/app.py"
    assert state.fork().resolve(rule) == "src/app.py"  # a fork keeps it
    state.add_step(ToolCall("bash", {"command": "cat src/app.py"}), "print(1)")
    assert state.resolve(rule) is None  # the next call's state: gone
    assert state.entry_for("turn", "b1") is None
    state.add_turn("   ")  # blank text adds nothing
    assert state.resolve(rule) is None and len(state.by_source["turn"]) == 1
    state.add_turn("Now src/other.py.")
    assert state.resolve(rule) == "src/other.py"
    assert state.resolve(("turn", "b2", "s:path:0")) == "src/app.py"  # the turn before


def test_a_value_only_the_turn_holds_stays_a_literal_of_the_template():
    state = SessionState()
    state.add_user("look at src/app.py")
    state.add_turn("I will open src/app.py and tests/test_app.py.")
    assert state.known("src/app.py") and not state.known("tests/test_app.py")
    tkey, holes = extract({"path": "tests/test_app.py"}, state)
    assert holes == [] and "tests/test_app.py" in tkey
    tkey, holes = extract({"path": "src/app.py"}, state)
    assert holes == ["src/app.py"]


def _trace(i: int) -> Trace:
    """The agent names a file in its thought, then opens it; the file appears in a listing
    first, among others, so the thought is what singles it out."""
    files = [f"mod_{i}/{name}.py" for name in ("alpha", "beta", "gamma", "delta")]
    target = files[i % 4]
    return Trace(session_id=f"s{i}", source="t", group=f"g{i}", steps=[
        Step(role="user", text="fix it"),
        Step(role="tool", call=ToolCall("ls", {"dir": f"mod_{i}"}), output="\n".join(files)),
        Step(role="assistant", text=f"The bug must be in {target}, reading it."),
        Step(role="tool", call=ToolCall("read", {"path": target}), output="code"),
    ])


def test_replay_adds_the_text_before_the_first_call_after_it_only_when_asked():
    trace = _trace(1)
    trace.steps.insert(4, Step(role="tool", call=ToolCall("read", {"path": "x.py"}), output=""))
    seen = [(step.call.name, state.resolve(("turn", "b1", "text")))
            for state, step in replay(trace, turn_text=True)]
    assert seen == [("ls", None), ("read", "The bug must be in mod_1/beta.py, reading it."),
                    ("read", None)]
    assert all(state.resolve(("turn", "b1", "text")) is None for state, _s in replay(trace))


def _top_read(store, trace, turn_text):
    """The top prediction given the tool `read` at the trace's read call."""
    for state, step in replay(trace, turn_text=turn_text):
        if step.call.name == "read":
            return Predictor(store).predict(state, k=1, tool="read")[0]
    raise AssertionError("no read call")


def test_given_the_tool_and_the_turns_text_the_named_file_is_predicted_first():
    store = mine([_trace(i) for i in range(12)])
    live = _trace(13)  # the thought names mod_13/beta.py, second in the listing
    top = _top_read(store, live, turn_text=True)
    assert (top.name, top.arguments) == ("read", {"path": "mod_13/beta.py"})
    # at the turn's start the thought is unknown: the listing's first file comes first
    assert _top_read(store, live, turn_text=False).arguments == {"path": "mod_13/alpha.py"}
