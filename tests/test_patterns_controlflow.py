"""Control-flow model: exact Witten-Bell back-off values and longest-suffix lookup."""

import pytest

from paste.patterns.controlflow import ControlFlowModel


def _model() -> ControlFlowModel:
    m = ControlFlowModel(order=2)
    # session 1: search -> visit -> visit ; session 2: search -> search
    m.observe(["<s>"], "search")
    m.observe(["<s>", "search"], "visit")
    m.observe(["<s>", "search", "visit"], "visit")
    m.observe(["<s>"], "search")
    m.observe(["<s>", "search"], "search")
    return m


def test_unigram_when_context_unseen():
    m = _model()
    dist = dict(m.distribution(["never", "seen"]))
    assert dist == pytest.approx({"search": 3 / 5, "visit": 2 / 5})


def test_backoff_interpolates_longest_context():
    m = _model()
    # context ("search",): counts visit 1, search 1 (T=2, N=2); unigram search .6 visit .4
    # P(visit | search) = (1 + 2 * 0.4) / (2 + 2) = 0.45
    # context ("<s>", "search") has the same counts and backs off to ("search",):
    # P(visit | <s> search) = (1 + 2 * 0.45) / 4 = 0.475
    assert dict(m.distribution(["x", "search"])) == pytest.approx({"visit": 0.45, "search": 0.55})
    assert dict(m.distribution(["<s>", "search"])) == pytest.approx(
        {"visit": 0.475, "search": 0.525}
    )
    assert m.distribution(["<s>", "search"])[0][0] == "search"


def test_counts_round_trip_through_json():
    m = _model()
    back = ControlFlowModel.from_json(m.to_json())
    assert back.distribution(["search", "visit"]) == m.distribution(["search", "visit"])
