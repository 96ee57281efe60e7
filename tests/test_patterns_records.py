"""Record rules (patterns/records.py): several arguments from one list item, item after item."""

import json

import pytest

from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.records import RecordRule, explain_records, item_offset, record_candidates
from paste.patterns.state import SessionState, used_key
from paste.patterns.store import SEP, PatternStore
from paste.patterns.templates import extract, hole_locators, hole_paths
from paste.patterns.trace import Step, ToolCall, Trace

FIELDS = ((0, 0, ".origin"), (1, 0, ".destination"), (2, 0, ".date"))


def _trip(i: int, legs: int = 0) -> list[dict]:
    """A connecting trip of `legs` segments (training sessions: 2 or 3), each starting where
    the previous one ended."""
    legs = legs or 2 + i % 2
    stops = [f"{c}{i}Q" for c in "ABCDEFG"[: legs + 1]]
    return [
        {"origin": a, "destination": b, "date": f"2024-05-{10 + 2 * k + i % 5:02d}"}
        for k, (a, b) in enumerate(zip(stops, stops[1:], strict=False))
    ]


def _search(seg: dict) -> ToolCall:
    return ToolCall("search", {"origin": seg["origin"], "destination": seg["destination"],
                               "date": seg["date"]})


def _session(i: int) -> Trace:
    """The agent reads a reservation, then searches every segment of it in order."""
    steps = [Step(role="user", text=f"Check reservation R{i}QQ")]
    steps.append(Step(role="tool", call=ToolCall("get_reservation", {"id": f"R{i}QQ"}),
                      output=json.dumps({"id": f"R{i}QQ", "flights": _trip(i)})))
    for seg in _trip(i):
        steps.append(Step(role="tool", call=_search(seg), output="3 flights found"))
    return Trace(session_id=f"s{i}", source="t", steps=steps, group=f"g{i}")


LIVE = 41  # the live session's trip has 5 segments, more than any training trip


def _live(searched: int, i: int = LIVE, legs: int = 5) -> SessionState:
    state = SessionState()
    state.add_user(f"Check reservation R{i}QQ")
    state.add_step(ToolCall("get_reservation", {"id": f"R{i}QQ"}),
                   json.dumps({"id": f"R{i}QQ", "flights": _trip(i, legs)}))
    for seg in _trip(i, legs)[:searched]:
        state.add_step(_search(seg), "3 flights found")
    return state


@pytest.fixture(scope="module")
def store() -> PatternStore:
    return mine([_session(i) for i in range(12)])


def test_rule_key_round_trips():
    rule = RecordRule("out", "k=get_reservation", "j:.flights.#", FIELDS)
    assert RecordRule.from_key(rule.key) == rule
    assert rule.holes == [0, 1, 2]


def test_explain_finds_the_item_that_holds_two_or_more_holes():
    state = _live(0, i=1, legs=2)  # segments A1Q->B1Q, B1Q->C1Q
    seg0 = _trip(1)[0]
    holes = [seg0["origin"], seg0["destination"], seg0["date"]]
    # B1Q is also item 1's origin, but one field of item 1 is not a record
    assert explain_records(state, holes) == {
        RecordRule("out", "b1", "j:.flights.#", FIELDS),
        RecordRule("out", "k=get_reservation", "j:.flights.#", FIELDS),
        RecordRule("out", "a=get_reservation", "j:.flights.#", FIELDS),
    }
    assert explain_records(state, [seg0["origin"], "elsewhere", "never"]) == set()


def _used(state: SessionState, kind: str = "search") -> dict:
    """record_candidates' usage arguments for the search template in `state`."""
    tkey, _holes = extract(_search(_trip(2, 3)[0]).arguments, _live(0, i=2, legs=3))
    assert hole_locators(tkey) == ("a:.origin", "a:.destination", "a:.date")
    return {"used": state.used_masks.get(kind, {}), "locators": hole_locators(tkey),
            "last": state.last_call_bit(kind)}


def test_candidates_are_items_in_rank_order_with_used_items_last():
    items = [(s["origin"], s["destination"], s["date"]) for s in _trip(2, 3)]
    rule = RecordRule("out", "b1", "j:.flights.#", FIELDS)
    fresh = _live(0, i=2, legs=3)
    entries = fresh.record_entries("out", "k=get_reservation")
    assert record_candidates(entries, rule, {}) == items
    assert record_candidates(entries, rule, **_used(fresh)) == items
    one = _live(1, i=2, legs=3)  # the first segment was searched
    assert record_candidates(entries, rule, **_used(one)) == items[1:] + items[:1]
    assert record_candidates(entries, rule, **_used(one), limit=1) == items[1:2]


def test_candidates_continue_after_the_item_the_last_call_used():
    """The agent skipped segment 0 and searched segment 1: segment 2 is next, then the
    skipped one, then the used one."""
    items = [(s["origin"], s["destination"], s["date"]) for s in _trip(2, 3)]
    state = _live(0, i=2, legs=3)
    state.add_step(_search(_trip(2, 3)[1]), "3 flights found")
    rule = RecordRule("out", "b1", "j:.flights.#", FIELDS)
    entries = state.record_entries("out", "k=get_reservation")
    assert record_candidates(entries, rule, **_used(state)) == [items[2], items[0], items[1]]
    # without the last call's bit there is no rotation: fresh in list order, used last
    assert record_candidates(entries, rule, **{**_used(state), "last": 0}) == [
        items[0], items[2], items[1]]


def test_a_value_counts_as_used_only_in_the_argument_it_filled():
    """A return flight swaps an outbound search's origin and destination on the same date:
    with the template's locators it is still fresh; by value alone it looks used."""
    state = SessionState()
    state.add_user("go")
    flights = [{"origin": "AAA", "destination": "BBB", "date": "2024-01-01"},
               {"origin": "BBB", "destination": "AAA", "date": "2024-01-01"}]
    state.add_step(ToolCall("get_reservation", {"id": "R"}), json.dumps({"flights": flights}))
    state.add_step(_search(flights[0]), "3 flights found")
    rule = RecordRule("out", "k=get_reservation", "j:.flights.#", FIELDS)
    entries = state.record_entries("out", "k=get_reservation")
    out, back = ("AAA", "BBB", "2024-01-01"), ("BBB", "AAA", "2024-01-01")
    assert record_candidates(entries, rule, **_used(state)) == [back, out]
    by_value = {**_used(state), "locators": ()}
    assert record_candidates(entries, rule, **by_value) == [out, back]  # both look used


def test_all_arrivals_of_a_kind_are_read_oldest_first():
    """`a=<kind>`: an agent that checks every segment of every reservation it read."""
    state = SessionState()
    state.add_user("check all my reservations")
    trips = [_trip(3, 2), _trip(4, 2)]
    for i, trip in enumerate(trips):
        state.add_step(ToolCall("get_reservation", {"id": f"R{i}"}),
                       json.dumps({"flights": trip}))
    entries = state.record_entries("out", "a=get_reservation")
    assert [e.ordinal for e in entries] == [0, 1]
    assert state.record_entries("out", "a=search") == []
    assert [e.ordinal for e in state.record_entries("out", "k=get_reservation")] == [1]
    rule = RecordRule("out", "a=get_reservation", "j:.flights.#", FIELDS)
    items = [(s["origin"], s["destination"], s["date"]) for t in trips for s in t]
    assert record_candidates(entries, rule, **_used(state)) == items
    for seg in trips[0]:
        state.add_step(_search(seg), "3 flights found")
    assert record_candidates(entries, rule, **_used(state)) == items[2:] + items[:2]


def test_used_masks_record_each_call_of_a_kind_and_forks_keep_their_own():
    state = SessionState()
    state.add_user("go")
    assert state.last_call_bit("search") == 0
    a = {"origin": "AAA", "destination": "BBB", "date": "d1"}
    b = {"origin": "BBB", "destination": "CCC", "date": "d1"}
    state.add_step(ToolCall("search", a), "x")
    state.add_step(ToolCall("other", {"q": "BBB"}), "y")
    state.add_step(ToolCall("search", b), "z")
    masks = state.used_masks["search"]
    assert (masks["AAA"], masks["BBB"], masks["CCC"], masks["d1"]) == (0b01, 0b11, 0b10, 0b11)
    assert (masks[used_key("a:.origin", "BBB")], masks[used_key("a:.destination", "BBB")]) == (
        0b10, 0b01)
    assert state.used_masks["other"] == {"BBB": 1, used_key("a:.q", "BBB"): 1}
    assert state.last_call_bit("search") == 0b10
    fork = state.fork()
    fork.add_step(ToolCall("search", {"origin": "DDD", "destination": "AAA", "date": "d2"}), "")
    assert (fork.used_masks["search"]["AAA"], state.used_masks["search"]["AAA"]) == (0b101, 0b01)
    assert (fork.last_call_bit("search"), state.last_call_bit("search")) == (0b100, 0b10)


def test_hole_locators_name_the_leaf_a_whole_hole_fills():
    state = SessionState()
    state.add_user("fly AAA to BBB on 2024-01-01, note ZZZ")
    args = {"origin": "AAA", "legs": [{"date": "2024-01-01"}], "note": "about ZZZ", "n": 2}
    tkey, holes = extract(args, state)
    assert holes == ["AAA", "2024-01-01", "ZZZ"]
    # literal leaves (n) have no hole; a hole inside a string has no leaf of its own
    assert hole_locators(tkey) == ("a:.origin", "a:.legs.#0.date", None)


def test_an_item_lacking_a_field_is_skipped():
    state = SessionState()
    state.add_user("go")
    flights = [{"origin": "AAA", "destination": "BBB", "date": "2024-01-01"},
               {"origin": "CCC", "date": "2024-01-02"},
               {"origin": "DDD", "destination": "EEE", "date": "2024-01-03"}]
    state.add_step(ToolCall("get", {}), json.dumps({"flights": flights}))
    entries = state.record_entries("out", "b1")
    rule = RecordRule("out", "b1", "j:.flights.#", FIELDS)
    assert record_candidates(entries, rule, {}) == [("AAA", "BBB", "2024-01-01"),
                                                    ("DDD", "EEE", "2024-01-03")]


def test_a_list_copied_item_by_item_is_one_record():
    """An upgrade resends the reservation's flights: the call's flights[j] = item j."""
    state = _live(0, i=2, legs=3)
    trip = _trip(2, 3)
    args = {"cabin": "business",
            "flights": [{"flight_number": s["origin"], "date": s["date"]} for s in trip[:2]]}
    tkey, holes = extract(args, state)
    offsets = [item_offset(p) for p in hole_paths(tkey)]
    assert (holes, offsets) == ([trip[0]["origin"], trip[0]["date"], trip[1]["origin"],
                                 trip[1]["date"]], [0, 0, 1, 1])
    fields = ((0, 0, ".origin"), (1, 0, ".date"), (2, 1, ".origin"), (3, 1, ".date"))
    rule = RecordRule("out", "b1", "j:.flights.#", fields)
    assert explain_records(state, holes, offsets) == {
        rule, RecordRule("out", "k=get_reservation", "j:.flights.#", fields),
        RecordRule("out", "a=get_reservation", "j:.flights.#", fields)}
    entries = state.record_entries("out", "b1")
    flat = [(a["origin"], a["date"], b["origin"], b["date"])
            for a, b in zip(trip, trip[1:], strict=False)]
    assert record_candidates(entries, rule, {}) == flat  # bases 0 and 1: two windows of two


def _template(store: PatternStore) -> str:
    state = _live(0)
    tkey, _holes = extract(_search(_trip(LIVE, 5)[0]).arguments, state)
    return f"search{SEP}{tkey}"


def test_mining_counts_support_and_ranks_exactly(store):
    template = _template(store)
    searches = sum(len(_trip(i)) for i in range(12))
    firsts = 12  # the first search reads the reservation as the latest output (b1)
    support = store.record_rules[template]
    rule = RecordRule("out", "a=get_reservation", "j:.flights.#", FIELDS)
    latest = RecordRule("out", "k=get_reservation", "j:.flights.#", FIELDS)
    assert support[rule.key] == support[latest.key] == searches
    assert support[RecordRule("out", "b1", "j:.flights.#", FIELDS).key] == firsts
    assert store.records(template) == [rule]  # the best-supported one (ties: by key)
    # every search took the first item not yet used: rank 0 each time
    assert store.record_stats[template][rule.key] == [searches, searches, 0, 0, 0, 0]


@pytest.mark.parametrize("searched", [0, 1, 2])
def test_prediction_takes_the_next_segment_whole(store, searched):
    seg = _trip(LIVE, 5)[searched]
    top = Predictor(store).predict(_live(searched), k=1)[0]
    assert (top.name, top.arguments) == ("search", _search(seg).arguments)


@pytest.mark.parametrize("searched", [3, 4])
def test_records_reach_items_beyond_the_trained_ranks(store, searched):
    """Training trips had at most 3 segments: per-hole rules name ranks #0..#2 and the 4th
    and 5th segments' dates come from none of them; the record rule walks the whole list."""
    bare = mine([_session(i) for i in range(12)])
    bare.record_rules, bare.record_stats = {}, {}
    bare.invalidate()
    want = ("search", _search(_trip(LIVE, 5)[searched]).arguments)
    with_records = [(p.name, p.arguments) for p in Predictor(store).predict(_live(searched), 5)]
    without = [(p.name, p.arguments) for p in Predictor(bare).predict(_live(searched), 5)]
    assert want in with_records
    assert want not in without


def test_save_load_keeps_record_rules(store, tmp_path):
    store.save(tmp_path / "store.json")
    back = PatternStore.load(tmp_path / "store.json")
    assert back.record_rules == store.record_rules
    assert back.record_stats == store.record_stats
    for n in range(3):
        assert Predictor(back).predict(_live(n), k=5) == Predictor(store).predict(_live(n), k=5)


def test_a_store_saved_without_record_rules_loads_with_none(store, tmp_path):
    store.save(tmp_path / "store.json")
    data = json.loads((tmp_path / "store.json").read_text())
    del data["record_rules"], data["record_stats"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    back = PatternStore.load(tmp_path / "old.json")
    assert (back.record_rules, back.record_stats) == ({}, {})
    assert Predictor(back).predict(_live(0), k=1)  # per-hole rules still predict


def test_online_update_adds_support():
    store = mine([_session(i) for i in range(6)])
    template = _template(store)
    rule = RecordRule("out", "a=get_reservation", "j:.flights.#", FIELDS).key
    before = store.record_rules[template][rule]
    store.update(_session(50))
    assert store.record_rules[template][rule] == before + len(_trip(50))
