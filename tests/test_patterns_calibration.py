"""Calibration: the isotonic fit with shrinkage (exact knots), the piecewise-linear map,
JSON round trip and bad input, cross-fitting on held-out folds, and a mined store's map."""

from __future__ import annotations

import json

import pytest

from paste.patterns.calibration import FOLDS, MIN_SESSIONS, Calibration, cross_fit, fit
from paste.patterns.errors import PatternStoreError
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.store import PatternStore
from test_patterns_store import _live, _session


def test_identity_when_empty():
    assert Calibration().apply(0.37) == 0.37
    assert fit([]) == Calibration()


def test_fit_pools_violators_and_shrinks_towards_mean_raw_p():
    # raw 0.1 x2 (0 hits), raw 0.2 x2 (2 hits), raw 0.3 x2 (1 hit): 0.2 and 0.3 violate
    # monotonicity (rate 1.0 then 0.5) and pool into one block of mean 0.25, 3 hits of 4.
    pairs = [(0.1, False), (0.1, False), (0.2, True), (0.2, True), (0.3, True), (0.3, False)]
    cal = fit(pairs, prior=4.0)
    assert cal.xs == pytest.approx((0.1, 0.25))
    # (0 + 4 * 0.1) / (2 + 4) and (3 + 4 * 0.25) / (4 + 4)
    assert cal.ys == pytest.approx((0.4 / 6, 4.0 / 8))


def test_fit_without_prior_is_plain_isotonic_regression():
    cal = fit([(0.1, False), (0.2, True), (0.3, False), (0.4, True)], prior=0.0)
    assert cal.xs == pytest.approx((0.1, 0.25, 0.4))
    assert cal.ys == pytest.approx((0.0, 0.5, 1.0))


def test_apply_interpolates_and_extrapolates():
    cal = Calibration((0.2, 0.6), (0.4, 0.8))
    assert cal.apply(0.1) == pytest.approx(0.2)  # proportional below the first knot
    assert cal.apply(0.4) == pytest.approx(0.6)  # between knots
    assert cal.apply(0.8) == pytest.approx(0.9)  # towards (1, 1) above the last
    assert cal.apply(1.0) == pytest.approx(1.0)
    assert cal.apply(0.0) == 0.0


def test_json_round_trip_and_bad_maps():
    cal = Calibration((0.1, 0.5), (0.2, 0.7))
    assert Calibration.from_json(cal.to_json()) == cal
    for bad in ([[0.5, 0.2], [0.1, 0.3]], [[0.1]], "x", [[0.1, 1.5]], [[0.1, "0.2"]]):
        with pytest.raises(ValueError):
            Calibration.from_json(bad)


def test_cross_fit_uses_only_held_out_sessions():
    assert (FOLDS, MIN_SESSIONS) == (4, 8)
    sessions = list(range(10))  # folds {0, 4, 8}, {1, 5, 9}, {2, 6}, {3, 7}
    seen: list[tuple[frozenset, int]] = []

    def mine_fold(train):
        return frozenset(train)

    def predict_calls(model, session):
        seen.append((model, session))
        assert session not in model  # never predicted by a model that trained on it
        # map 0: one prediction per session; map 1: two, hits in odd sessions only
        return [(0, 0.5, session % 2 == 0), (1, 0.2, session % 2 == 1), (1, 0.2, False)]

    cal, named = cross_fit(sessions, mine_fold, predict_calls, 2)
    assert sorted(s for _m, s in seen) == sessions
    everything = frozenset(sessions)
    assert {m for m, _s in seen} == {everything - {0, 4, 8}, everything - {1, 5, 9},
                                     everything - {2, 6}, everything - {3, 7}}
    assert cal.xs == (0.5,) and cal.ys == pytest.approx(((5 + 4 * 0.5) / (10 + 4),))
    assert named.xs == pytest.approx((0.2,))
    assert named.ys == pytest.approx(((5 + 4 * 0.2) / (20 + 4),))


def test_too_few_sessions_keep_the_identity():
    def never(*_args):
        raise AssertionError("must not mine")

    assert cross_fit(list(range(MIN_SESSIONS - 1)), never, never) == [Calibration()]
    assert cross_fit(list(range(MIN_SESSIONS - 1)), never, never, 2) == [Calibration()] * 2


def _mined(calibrate: bool):
    return mine([_session(i) for i in range(MIN_SESSIONS)], calibrate=calibrate)


def test_a_mined_store_predicts_its_calibrated_raw_probabilities(tmp_path):
    raw, calibrated = _mined(False), _mined(True)
    assert raw.calibration == Calibration() and calibrated.calibration.xs  # fitted
    for n in range(3):
        before = Predictor(raw).predict(_live(n), k=5)
        after = Predictor(calibrated).predict(_live(n), k=5)
        assert [p.canonical for p in after] == [p.canonical for p in before]  # same ranking
        assert [p.probability for p in after] == pytest.approx(
            [calibrated.calibration.apply(p.probability) for p in before])
    calibrated.save(tmp_path / "store.json")
    assert PatternStore.load(tmp_path / "store.json").calibration == calibrated.calibration


def test_a_store_file_with_a_bad_calibration_is_a_typed_error(tmp_path):
    _mined(False).save(tmp_path / "store.json")
    data = json.loads((tmp_path / "store.json").read_text())
    data["calibration"] = [[0.5, 0.1], [0.2, 0.3]]  # raw p not increasing
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(PatternStoreError, match="bad calibration"):
        PatternStore.load(tmp_path / "bad.json")


def test_given_the_tool_the_kind_is_certain_and_the_named_map_applies(tmp_path):
    raw, calibrated = _mined(False), _mined(True)
    assert raw.calibration_named == Calibration() and calibrated.calibration_named.xs
    assert calibrated.calibration_named != calibrated.calibration  # fitted on other pairs
    state = _live(3)  # every reservation looked up: the session may be over
    start = Predictor(raw).predict(state, k=5)
    named = Predictor(raw).predict(state, k=5, tool="get_reservation")
    assert named and {p.name for p in named} == {"get_reservation"}
    # the same calls, each divided by P(get_reservation | context)
    p_kind = dict(Predictor(raw).distribution(state))["get_reservation"]
    assert 0.0 < p_kind < 0.9
    by_canon = {p.canonical: p.probability for p in start}
    for p in named:
        if p.canonical in by_canon:
            assert p.probability == pytest.approx(by_canon[p.canonical] / p_kind)
    after = Predictor(calibrated).predict(state, k=5, tool="get_reservation")
    assert [p.canonical for p in after] == [p.canonical for p in named]
    assert [p.probability for p in after] == pytest.approx(
        [calibrated.calibration_named.apply(p.probability) for p in named])
    assert Predictor(raw).predict(state, k=5, tool="no_such_tool") == []
    calibrated.save(tmp_path / "store.json")
    loaded = PatternStore.load(tmp_path / "store.json")
    assert loaded.calibration_named == calibrated.calibration_named


def test_a_store_saved_without_a_named_map_loads_with_the_identity(tmp_path):
    _mined(True).save(tmp_path / "store.json")
    data = json.loads((tmp_path / "store.json").read_text())
    del data["calibration_named"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert PatternStore.load(tmp_path / "old.json").calibration_named == Calibration()
    data["calibration_named"] = [[0.1, 2.0]]  # a hit rate above 1
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(PatternStoreError, match="bad calibration"):
        PatternStore.load(tmp_path / "bad.json")
