"""Text evidence for control flow: words, exact naive-Bayes scores, mass-preserving reweighting,
and the cross-validated choice of its weight."""

import math

import pytest

from paste.patterns.cfselect import select_config, session_events
from paste.patterns.textevidence import TextEvidence, message_words, reweight
from paste.patterns.trace import Step, ToolCall


def test_message_words_are_distinct_lowercase_words_of_three_or_more_letters():
    assert message_words("Cancel my reservation, please CANCEL it!") == frozenset(
        {"cancel", "reservation", "please"}
    )


def test_score_is_the_log_likelihood_ratio_of_the_words():
    text = TextEvidence()
    text.observe(frozenset({"cancel", "trip"}), "cancel_reservation")
    text.observe(frozenset({"book", "trip"}), "book_reservation")
    # log(c(w,k) + 1) summed over known words, minus |known words| * log(c(k) + 2)
    assert text.score(frozenset({"cancel"}), "cancel_reservation") == pytest.approx(
        math.log(2) - math.log(3)
    )
    assert text.score(frozenset({"cancel", "unseen"}), "book_reservation") == pytest.approx(
        -math.log(3)
    )
    assert text.score(frozenset({"trip", "book"}), "book_reservation") == pytest.approx(
        2 * math.log(2) - 2 * math.log(3)
    )
    back = TextEvidence.from_json(text.to_json())
    assert back.score(frozenset({"trip"}), "book_reservation") == text.score(
        frozenset({"trip"}), "book_reservation"
    )


def test_reweight_keeps_the_mass_of_calls_and_of_the_end():
    dist = [("a", 0.5), ("b", 0.3), ("<end>", 0.2)]
    got = reweight(dist, {"a": 0.0, "b": math.log(4)}, 1.0, "<end>")
    # a: 0.5 / 4 = 0.125, b: 0.3; rescaled to the calls' mass 0.8
    assert [t for t, _p in got] == ["b", "a", "<end>"]
    assert [p for _t, p in got] == pytest.approx([0.3 * 0.8 / 0.425, 0.125 * 0.8 / 0.425, 0.2])
    assert reweight(dist, {"a": 0.0, "b": 5.0}, 0.0, "<end>") == dist


def test_cross_validation_turns_text_evidence_on_when_words_decide_the_tool():
    sessions = []
    for i in range(16):  # every fold of 4 holds out 2 alpha and 2 beta sessions: prior is a tie
        word, tool = ("alpha", "tool_a") if (i // 4) % 2 else ("beta", "tool_b")
        steps = [
            Step(role="user", text=f"please run {word}"),
            Step(role="tool", call=ToolCall(tool, {}), output="done"),
        ]
        sessions.append(session_events(steps))
    assert select_config(sessions) == (1, True, False, 0.05)
    assert select_config(sessions[:1]) == (3, True, False, 0.0)
