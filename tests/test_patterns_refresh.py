"""Predictor.refresh after online updates rebuilds only what the store's passes changed
(PatternStore.change_log) and predicts exactly as a predictor built afresh on the same
store; dropping every view (invalidate(), too many updates) makes the next refresh whole."""

import json
from pathlib import Path

import pytest

from paste.patterns.changelog import MAX_CHANGES
from paste.patterns.loaders import load_folder
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.replay import replay
from paste.patterns.state import SessionState
from paste.patterns.store import SEP, PatternStore
from paste.patterns.trace import Step, ToolCall, Trace

SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"


def _session(i: int, tool: str = "get_reservation") -> Trace:
    user = {"user_id": f"user_{i}", "reservations": [f"R{i}A1", f"R{i}B2"]}
    steps = [Step(role="user", text=f"I am user_{i}"),
             Step(role="tool", call=ToolCall("get_user", {"user_id": f"user_{i}"}),
                  output=json.dumps(user))]
    for rid in user["reservations"]:
        steps.append(Step(role="tool", call=ToolCall(tool, {"id": rid}),
                          output=json.dumps({"id": rid})))
    return Trace(session_id=f"s{i}", source="t", steps=steps, group=f"g{i}")


def _live() -> SessionState:
    state = SessionState()
    state.add_user("I am user_99")
    state.add_step(ToolCall("get_user", {"user_id": "user_99"}),
                   json.dumps({"user_id": "user_99", "reservations": ["R99A1", "R99B2"]}))
    return state


def test_an_update_is_refreshed_from_its_changes_only():
    store = mine([_session(i) for i in range(6)])
    predictor = Predictor(store)
    (user_hole,) = [h for h in store.hole_rules if h.startswith("get_user" + SEP)]
    kept = store.ordered_rules(user_hole)
    mark = store.change_log.mark()
    store.update(_session(6, tool="lookup_booking"), refit=False)
    changes = store.change_log.since(mark)
    assert changes is not None and len(changes) == 3  # one per pass
    new_holes = {h for h in store.hole_rules if h.startswith("lookup_booking" + SEP)}
    assert changes[0].kinds == {"get_user", "lookup_booking"}
    assert changes[0].holes == new_holes | {user_hole}
    before = predictor.predict(_live(), 5)
    predictor.refresh()
    assert store.ordered_rules(user_hole) is not kept  # the update changed that hole: rebuilt
    after = predictor.predict(_live(), 5)
    assert after == Predictor(store).predict(_live(), 5)
    assert [p.name for p in after] != [p.name for p in before]  # the new tool is predicted
    assert "lookup_booking" in {p.name for p in after}


def test_a_hole_the_update_did_not_touch_keeps_its_rule_order():
    store = mine([_session(i) for i in range(6)])
    predictor = Predictor(store)
    (res_hole,) = [h for h in store.hole_rules if h.startswith("get_reservation" + SEP)]
    kept = store.ordered_rules(res_hole)
    store.update(Trace(session_id="x", source="t", group="gx", steps=[
        Step(role="user", text="I am user_7"),
        Step(role="tool", call=ToolCall("get_user", {"user_id": "user_7"}), output="{}")]),
        refit=False)
    predictor.refresh()
    assert store.ordered_rules(res_hole) is kept
    assert predictor.predict(_live(), 5) == Predictor(store).predict(_live(), 5)


def test_dropping_every_view_makes_the_next_refresh_whole():
    store = mine([_session(i) for i in range(6)])
    mark = store.change_log.mark()
    store.invalidate()
    assert store.change_log.since(mark) is None
    mark = store.change_log.mark()
    for i in range(MAX_CHANGES // 3 + 1):  # three passes per update
        store.update(_session(10 + i), refit=False)
    assert store.change_log.since(mark) is None  # the log overflowed: everything dropped
    assert len(store.change_log.since(store.change_log.mark())) == 0


@pytest.mark.skipif(not (SHARED / "tau-bench-gpt4o-airline").is_dir(), reason="needs ../shared")
@pytest.mark.parametrize("refit", [False, True])
def test_refreshing_after_real_updates_predicts_as_a_new_predictor(refit):
    traces = sorted(load_folder(SHARED / "tau-bench-gpt4o-airline").traces,
                    key=lambda t: t.session_id)
    store = mine(traces[:12])
    predictor = Predictor(store)
    for trace in traces[12:20]:
        store.update(trace, refit=refit)
        predictor.refresh()
    fresh = Predictor(store)
    assert predictor._templates == fresh._templates
    assert predictor._rank_p == fresh._rank_p
    compared = 0
    for trace in traces[20:24]:
        for state, _step in replay(trace):
            assert predictor.predict(state, 5) == fresh.predict(state, 5)
            compared += 1
    assert compared > 20


def test_a_store_loaded_from_a_file_refreshes_whole(tmp_path):
    store = mine([_session(i) for i in range(6)])
    store.save(tmp_path / "s.json")
    back = PatternStore.load(tmp_path / "s.json")
    predictor = Predictor(back)
    back.update(_session(7), refit=False)
    predictor.refresh()
    assert predictor.predict(_live(), 5) == Predictor(back).predict(_live(), 5)
