"""List holes: an argument that is a list of records copied from history (a reservation's
flights resent with only the fields the tool takes) is one hole, whatever the list's length."""

import json
from collections import Counter

from paste.patterns.canonical import records_key
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.shapes import allowed_shapes
from paste.patterns.state import SessionState
from paste.patterns.templates import extract, fill, hole_paths
from paste.patterns.trace import Step, ToolCall, Trace
from paste.patterns.values import locate_json

FLIGHTS = [
    {"flight_number": "HAT001", "date": "2024-05-01", "price": 100.0, "seats": {"economy": 3}},
    {"flight_number": "HAT002", "date": "2024-05-02", "price": 120},
]


def test_a_list_of_records_is_located_projected_onto_its_scalar_fields():
    out: dict[str, str] = {}
    locate_json({"flights": FLIGHTS, "tags": ["a", "b"]}, "j:", out)
    projections = {loc for loc in out if "|" in loc}
    # every field, every pair of fields and all fields; the nested `seats` is no field
    assert projections == {
        "j:.flights|date", "j:.flights|flight_number", "j:.flights|price",
        "j:.flights|date,flight_number", "j:.flights|date,price",
        "j:.flights|flight_number,price", "j:.flights|date,flight_number,price",
    }
    assert out["j:.flights|date,flight_number"] == (
        '[{"date":"2024-05-01","flight_number":"HAT001"},'
        '{"date":"2024-05-02","flight_number":"HAT002"}]')
    # numbers are normalised like every value key (100.0 is 100), keys sorted
    assert json.loads(out["j:.flights|price"]) == [{"price": 100}, {"price": 120}]
    assert out["j:.flights.#0.flight_number"] == "HAT001"  # the leaves stay located


def test_records_key_is_independent_of_key_order_and_number_spelling():
    assert records_key([{"b": 1.0, "a": "x"}]) == records_key([{"a": "x", "b": 1}])
    assert records_key([{"a": "x"}]) == '[{"a":"x"}]'


def test_a_copied_list_is_one_json_hole_and_fills_back():
    state = SessionState()
    state.add_step(ToolCall("get_reservation", {"id": "R1"}), json.dumps({"flights": FLIGHTS}))
    flights = [{"flight_number": f["flight_number"], "date": f["date"]} for f in FLIGHTS]
    args = {"reservation_id": "R1", "cabin": "business", "flights": flights}
    tkey, holes = extract(args, state)
    assert json.loads(tkey) == [
        [["reservation_id"], ["H", 0, "str"]], [["cabin"], ["L", "business"]],
        [["flights"], ["H", 1, "json"]]]
    assert holes == ["R1", records_key(flights)]
    assert hole_paths(tkey) == [["reservation_id"], ["flights"]]
    assert fill(json.loads(tkey), holes) == args


def test_a_list_that_is_not_a_copy_stays_item_by_item():
    state = SessionState()
    state.add_step(ToolCall("get_reservation", {"id": "R1"}), json.dumps({"flights": FLIGHTS}))
    changed = [{"flight_number": "HAT001", "date": "2024-05-01"},
               {"flight_number": "HAT999", "date": "2024-05-02"}]
    tkey, holes = extract({"flights": changed}, state)
    assert json.loads(tkey) == [
        [["flights", 0, "flight_number"], ["H", 0, "str"]],
        [["flights", 0, "date"], ["H", 1, "str"]],
        [["flights", 1, "flight_number"], ["L", "HAT999"]],
        [["flights", 1, "date"], ["H", 2, "str"]]]
    assert holes == ["HAT001", "2024-05-01", "2024-05-02"]


def test_list_values_are_never_shaped():
    two_lengths = Counter({'[{"a":"X"}]': 6, '[{"a":"X"},{"a":"X"}]': 6})
    assert allowed_shapes(two_lengths) is None
    assert allowed_shapes(Counter({"X": 12})) == {"X"}


def _flights(i: int, n: int) -> list[dict]:
    return [{"flight_number": f"HAT{i:02d}{k}", "date": f"2024-05-{k + 1:02d}",
             "origin": f"O{i}{k}", "price": 100 + k} for k in range(n)]


def _upgrade(i: int, n: int) -> Trace:
    """A user asks to upgrade reservation R<i>; the agent reads it and resends its flights."""
    rid = f"R{i:02d}X"
    flights = _flights(i, n)
    steps = [
        Step(role="user", text=f"Please upgrade reservation {rid} to business."),
        Step(role="tool", call=ToolCall("get_reservation", {"reservation_id": rid}),
             output=json.dumps({"reservation_id": rid, "flights": flights})),
        Step(role="tool", call=ToolCall("update_flights", {
            "reservation_id": rid, "cabin": "business",
            "flights": [{"flight_number": f["flight_number"], "date": f["date"]}
                        for f in flights]}), output="ok"),
    ]
    return Trace(session_id=f"s{i}", source="t", steps=steps, group=f"g{i}")


def test_prediction_copies_a_list_longer_than_any_in_training():
    store = mine([_upgrade(i, 1 + i % 2) for i in range(8)])  # one or two flights each
    live = SessionState()
    live.add_user("Please upgrade reservation R77X to business.")
    flights = _flights(77, 4)
    live.add_step(ToolCall("get_reservation", {"reservation_id": "R77X"}),
                  json.dumps({"reservation_id": "R77X", "flights": flights}))
    top = Predictor(store).predict(live, 1)[0]
    assert (top.name, top.arguments) == ("update_flights", {
        "cabin": "business", "reservation_id": "R77X",
        "flights": [{"date": f["date"], "flight_number": f["flight_number"]} for f in flights]})
