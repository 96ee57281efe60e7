"""Cue spans: a quoted name or a path in a user message located by the word next to it
(`c:<type>:<word><`, `c:<type>:><word>`), so an argument is found by what the sentence says
it is rather than by where it stands."""

import json

from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.state import SessionState
from paste.patterns.trace import Step, ToolCall, Trace
from paste.patterns.values import cue_spans, locate_message, locate_text


def test_cue_words_on_both_sides_skip_stop_words_and_other_tokens():
    got = cue_spans("Move 'final_report.pdf' within document directory to 'temp' directory "
                    "in document.\nMake sure to create the directory")
    assert got == {
        "c:path:move<": "final_report.pdf",
        "c:path:>within": "final_report.pdf",
        "c:quoted:directory<": "temp",  # "to" is a stop word
        "c:quoted:>directory": "temp",
    }
    # notes.txt counts towards the reach but is no cue word; "into" and "please" are stop words
    assert cue_spans("copy notes.txt into 'archive' please") == {
        "c:path:copy<": "notes.txt", "c:path:>archive": "notes.txt"}


def test_the_first_span_with_a_cue_keeps_it_and_a_line_break_ends_the_reach():
    got = cue_spans("open 'a.txt' then open 'b.txt'\nfile 'c'")
    assert got["c:path:open<"] == "a.txt"  # first wins
    assert "c:quoted:>file" not in got and got["c:quoted:file<"] == "c"
    assert "c:path:>file" not in got  # 'b.txt' and "file" are on different lines


def test_only_quoted_names_and_paths_get_cues():
    assert cue_spans("reservation ID ZFA04Y for user mia_li_3668, 42 bags, see https://a.org") \
        == {}
    assert cue_spans("") == {}


def test_user_messages_have_cue_locators_outputs_do_not():
    text = "Create the 'temp' directory"
    assert locate_message(text)["c:quoted:>directory"] == "temp"
    assert locate_message(text)["s:quoted:0"] == "temp"
    assert not any(loc.startswith("c:") for loc in locate_text(text))
    s = SessionState()
    s.add_step(ToolCall("ls", {}), text)
    s.add_user(text)
    assert s.explain("temp") >= {("user", "b1", "c:quoted:>directory"),
                                 ("out", "b1", "s:quoted:0")}
    assert ("out", "b1", "c:quoted:>directory") not in s.explain("temp")


def _session(i: int, first: bool) -> Trace:
    """The user names a file and a directory (names of the same shape) in either order; the
    agent makes the directory."""
    d, f = f"d{i}x", f"f{i}y"
    text = (f"Put '{f}' into a new '{d}' directory" if first
            else f"Make a '{d}' directory and put '{f}' there")
    return Trace(session_id=f"s{i}", source="t", steps=[
        Step(role="user", text=text),
        Step(role="tool", call=ToolCall("mkdir", {"dir_name": d}), output=json.dumps(None))])


def test_a_hole_learns_the_cue_when_the_position_varies():
    store = mine([_session(i, first=i % 2 == 0) for i in range(12)])
    for text in ("Put 'p3y' into a new 'q7x' directory",
                 "Make a 'q7x' directory and put 'p3y' there"):
        state = SessionState()
        state.add_user(text)
        top = Predictor(store).predict(state, k=1)[0]
        assert (top.name, top.arguments) == ("mkdir", {"dir_name": "q7x"})
