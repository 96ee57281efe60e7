"""Text evidence for control flow: words, exact naive-Bayes scores, mass-preserving reweighting,
and the cross-validated choice of its weight."""

import math

import pytest

from paste.patterns.cfselect import select_config, session_events
from paste.patterns.controlflow import TOP
from paste.patterns.predictor import Predictor
from paste.patterns.state import SessionState
from paste.patterns.store import PatternStore
from paste.patterns.textevidence import (
    TextEvidence,
    message_words,
    name_score,
    name_scores,
    name_words,
    reweight,
    word_prefixes,
)
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


def test_scores_follow_observations_made_after_a_query():
    """score() reads a table built from the counts; a later observe() must rebuild it."""
    text = TextEvidence()
    text.observe(frozenset({"trip"}), "book_reservation")
    assert text.score(["trip"], "book_reservation") == pytest.approx(math.log(2) - math.log(3))
    assert text.score(["trip"], "cancel_reservation") == pytest.approx(-math.log(2))
    text.observe(frozenset({"trip", "cancel"}), "cancel_reservation")
    text.observe(frozenset({"trip"}), "book_reservation")
    assert text.score(["trip"], "book_reservation") == pytest.approx(math.log(3) - math.log(4))
    assert text.score(["cancel", "trip"], "cancel_reservation") == pytest.approx(
        2 * math.log(2) - 2 * math.log(3))
    assert text.score([], "book_reservation") == 0.0


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
    assert select_config(sessions) == (1, True, False, 0.05, 0.0, 0.0)
    assert select_config(sessions[:1]) == (3, True, False, 0.0, 0.0, 0.0)


def test_name_words_split_snake_camel_and_shell_kinds_cut_to_the_stem():
    assert name_words("activateParkingBrake") == ("activ", "parki", "brake")
    assert name_words("get_zipcode_based_on_city") == ("get", "zipco", "based", "city")
    assert name_words("bash:grep") == ("grep",)  # the bash: prefix is not a word of the name
    assert name_words("cd") == ()  # words under 3 characters never match
    assert name_words("list.list-LIST") == ("list",)


def test_name_score_counts_name_words_the_message_starts_a_word_with():
    prefixes = word_prefixes(message_words("Sort the liters, then ACTIVATE the brakes"))
    assert name_score(prefixes, "sort") == 1  # "sort" starts "sort"
    assert name_score(prefixes, "liter_to_gallon") == 1  # "liter" starts "liters", not gallon
    assert name_score(prefixes, "activateParkingBrake") == 2  # activ + brake, not parki
    assert name_score(prefixes, "activateParkingBrake!") == 2  # a failed kind: same tool
    assert name_score(prefixes, "bash:grep") == 0
    assert name_score(word_prefixes(message_words("so")), "sort") == 0


def test_cross_validation_turns_name_evidence_on_when_messages_name_unseen_words():
    # Each tool is called twice: once after "please" (no name word), once after "run <name>".
    # Held out, the "run <name>" word was never in a training message, so naive Bayes cannot
    # know it; the tool's own name can. Pairs sit in adjacent folds, so each held-out call's
    # tool was seen once in training, while the tools with both sessions in training were
    # seen twice: the name must outweigh a control-flow odds of 2, exp(w) > 2, so the
    # smallest weight that wins every "run <name>" call is 1.0 (exp(0.5) = 1.65 is not).
    names = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
    sessions = []
    for name in names:
        for text in ("please", f"run {name}"):
            steps = [
                Step(role="user", text=text),
                Step(role="tool", call=ToolCall(f"tool_{name}", {}), output="done"),
            ]
            sessions.append(session_events(steps))
    assert select_config(sessions) == (1, True, False, 0.0, 1.0, 0.0)


def test_offered_tools_are_all_reweighted_before_the_top_is_kept():
    store = PatternStore()
    store.text_weight, store.name_weight = 0.0, 2.0
    others = [f"tool_{c}" for c in "abcdefghijklm"]  # 13 tools, more than TOP
    for kind in others:
        for _ in range(3):
            store.cf.observe(["<s>"], kind)
    store.cf.observe(["<s>"], "activateParkingBrake")  # the rarest
    predictor = Predictor(store)
    state = SessionState(tools=frozenset([*others, "activateParkingBrake"]))
    state.add_user("Please activate the parking brake")
    dist = predictor.distribution(state)
    # P(k) = c(k) / 40, times exp(2 * n(k)) (n = 3 for the brake, 0 for the others)
    z = 39 + math.exp(6)
    assert len(dist) == TOP
    assert dist[0] == ("activateParkingBrake", pytest.approx(math.exp(6) / z))
    assert dist[1:] == [(k, pytest.approx(3 / z)) for k in others[: TOP - 1]]
    store.name_weight = 0.0  # control flow alone: the brake is 14th, cut from the top
    assert "activateParkingBrake" not in dict(predictor.distribution(state))


def test_name_scores_weight_each_word_by_how_few_candidates_share_it():
    prefixes = word_prefixes(message_words("perform a product search for the iPhone"))
    kinds = ["products_for_seo_api", "search_for_seo_api", "search_b_for_seo_api",
             "images_for_seo_api"]
    got = name_scores(prefixes, kinds)
    # "for" is in all four names (1/4 each); "searc" in two (1/2); "produ" in one (1)
    assert got == pytest.approx({"products_for_seo_api": 1.25, "search_for_seo_api": 0.75,
                                 "search_b_for_seo_api": 0.75, "images_for_seo_api": 0.25})
    # alone, a kind's matched words each count fully: n(k) of name_score
    assert name_scores(prefixes, ["search_for_seo_api"]) == {
        "search_for_seo_api": name_score(prefixes, "search_for_seo_api")}
    assert name_scores(prefixes, []) == {}
