"""After a call of a kind training never saw, the control flow backs off to the unigram; the
predictor gives that kind the store's measured rate of same-kind calls after a kind new to
the store (PatternStore.novel_repeats), and emits no argument-free call for it."""

import json

import pytest

from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.state import SessionState
from paste.patterns.store import PatternStore
from paste.patterns.trace import Step, ToolCall, Trace


def _bash(head: str, rest: str = "") -> ToolCall:
    return ToolCall("bash", {"command": f"{head} {rest}".strip()}, kind=f"bash:{head}")


def _session(i: int) -> Trace:
    calls = [_bash("open", "a.py"), _bash("edit", "1:2"), _bash("python", "a.py"),
             _bash(f"tool{i}", "x"), _bash(f"tool{i}", "y"), _bash("submit")]
    return Trace(f"s{i}", "fake", [Step("user", text="fix it")] + [
        Step("tool", call=c, output="ok") for c in calls], group=f"g{i}")


def _store() -> PatternStore:
    return mine([_session(i) for i in range(6)], calibrate=False)


def test_novel_repeats_count_what_follows_each_kind_new_to_the_store():
    # session 0: open, edit, python, tool0 (then tool0 again: the one repeat) and submit (then
    # the session's end) are new; sessions 1-5: only tool<i>, each followed by itself
    assert _store().novel_repeats == [10, 6]


def _after(call: ToolCall, tools: frozenset[str] | None = None) -> SessionState:
    state = SessionState(tools=tools)
    state.add_user("fix it")
    state.add_step(_bash("open", "a.py"), "ok")
    state.add_step(call, "ok")
    return state


def test_a_kind_training_never_saw_gets_the_measured_repeat_rate():
    predictor = Predictor(_store())
    state = _after(_bash("decompile", "main"))
    mixed = predictor.distribution(state)
    r = 6 / (10 + 2)
    predictor._novel_repeat = 0.0
    base = predictor.distribution(state)
    assert mixed == sorted([(t, p * (1 - r)) for t, p in base] + [("bash:decompile", r)],
                           key=lambda x: (-x[1], x[0]))
    assert mixed[0] == ("bash:decompile", pytest.approx(0.5))


def test_a_failed_new_kind_is_repeated_too_and_a_known_kind_is_untouched():
    predictor = Predictor(_store())
    failed = SessionState()
    failed.add_user("fix it")
    failed.add_step(_bash("decompile", "main"), "Error: no such function", "error")
    assert failed.context[-1] == "bash:decompile!"
    assert predictor.distribution(failed)[0] == ("bash:decompile", pytest.approx(0.5))
    known = _after(_bash("edit", "3:4"))
    got = predictor.distribution(known)
    predictor._novel_repeat = 0.0
    assert got == predictor.distribution(known)
    assert got[0][0] == "bash:python"  # what followed edit in training


def test_no_call_is_emitted_for_a_new_command_of_a_known_shell_tool():
    predictor = Predictor(_store())
    calls = predictor.predict(_after(_bash("decompile", "main")), 5)
    assert [c.kind for c in calls if c.kind == "bash:decompile"] == []
    assert all(c.arguments for c in calls)  # no argument-free bash{} filler


def test_a_tool_the_session_does_not_offer_is_not_repeated():
    predictor = Predictor(_store())
    offered = _after(_bash("decompile", "main"), tools=frozenset({"other"}))
    assert "bash:decompile" not in dict(predictor.distribution(offered))


def test_novel_repeats_are_saved_and_older_stores_load_without_them(tmp_path):
    path = tmp_path / "store.json"
    _store().save(path)
    assert PatternStore.load(path).novel_repeats == [10, 6]
    data = json.loads(path.read_text())
    del data["novel_repeats"]
    path.write_text(json.dumps(data))
    loaded = PatternStore.load(path)
    assert loaded.novel_repeats == [0, 0]
    assert Predictor(loaded).distribution(_after(_bash("decompile", "x")))[0][0] != \
        "bash:decompile"
