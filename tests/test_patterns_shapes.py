"""Value shapes (paste.patterns.shapes): exact signatures, when a hole counts as shaped, and a
mined store that drops a derived candidate whose shape no training value had."""

from collections import Counter

from paste.patterns.mining import mine
from paste.patterns.shapes import (
    MAX_LENGTHS,
    MAX_SHAPES,
    MIN_VALUES,
    allowed_lengths,
    allowed_shapes,
    note,
    shape,
)
from paste.patterns.state import SessionState
from paste.patterns.store import SEP, PatternStore
from paste.patterns.trace import Step, ToolCall, Trace


def test_shape_collapses_character_class_runs():
    got = {v: shape(v) for v in ("IFOYYZ", "NQNU5R", "2024-05-24", "aarav_ahmed_6699", "IDs",
                                 "economy", "a.b..c", 42)}
    assert got == {"IFOYYZ": "X", "NQNU5R": "X", "2024-05-24": "X-X-X",
                   "aarav_ahmed_6699": "a_a_X", "IDs": "Xa", "economy": "a",
                   "a.b..c": "a.a..a", 42: "X"}


def test_a_hole_is_shaped_only_with_enough_values_and_few_shapes():
    assert (MIN_VALUES, MAX_SHAPES) == (10, 2)
    assert allowed_shapes(None) is None
    assert allowed_shapes(Counter({"X": 9})) is None  # too few values to tell
    assert allowed_shapes(Counter({"X": 9, "X-X": 1})) == {"X", "X-X"}
    assert allowed_shapes(Counter({"X": 8, "X-X": 1, "a": 1})) is None  # free-form
    assert allowed_shapes(Counter({"aX/aX.a": 12})) is None  # paths: depth varies


def test_note_keeps_one_key_past_the_cap_and_decides_as_the_full_count():
    full, capped = Counter(), Counter()
    values = ["IFOYYZ"] * 5 + ["2024-05-24", "free text, a b", "a/b.c", "NQNU5R", "x y z w"]
    for v in values:
        full[shape(v)] += 1
        note(capped, shape(v), MAX_SHAPES)
    assert capped == Counter({"X": 6, "X-X-X": 1, "a a, a a": 1})
    assert allowed_shapes(capped) is allowed_shapes(full) is None
    few = Counter()
    for v in ["IFOYYZ"] * 9 + ["2024-05-24"]:
        note(few, shape(v), MAX_SHAPES)
    assert allowed_shapes(few) == {"X", "X-X-X"}  # under the cap: every value counted
    lengths = Counter()
    for n in (6, 6, 3, 10, 7, 6):
        note(lengths, n, MAX_LENGTHS)
    assert lengths == Counter({6: 3, 3: 1, 10: 1})
    assert allowed_lengths(lengths, {"X"}) is None


def test_a_free_text_hole_keeps_few_shapes_in_the_store():
    steps = []
    for i in range(12):
        text = "note " + " ".join(["word"] * (i + 1)) + "."  # a shape per length
        steps += [Step(role="user", text=f'write "{text}"'),
                  Step(role="tool", call=ToolCall("write_note", {"text": text}), output="ok")]
    store = mine([Trace(session_id=f"s{g}", source="t", steps=steps, group=f"g{g}")
                  for g in range(3)])
    (hkey,) = [h for h in store.hole_rules if h.startswith("write_note" + SEP)]
    assert store.hole_shapes[hkey] == Counter({"a a.": 3, "a a a.": 3, "a a a a.": 3})
    assert len(store.hole_shapes[hkey]) == MAX_SHAPES + 1
    assert len(store.hole_lengths[hkey]) == MAX_LENGTHS + 1
    assert allowed_shapes(store.hole_shapes[hkey]) is None


def _session(i: int) -> Trace:
    rid = f"Q{i:02d}K{i % 7}Z"  # six characters, like a tau-bench reservation id
    steps = [Step(role="user", text=f"please look up reservation {rid} for me"),
             Step(role="tool", call=ToolCall("get_reservation", {"id": rid}),
                  output=f'{{"id": "{rid}"}}')]
    return Trace(session_id=f"s{i}", source="t", steps=steps)


def test_a_candidate_of_a_shape_no_training_value_had_is_dropped():
    store = mine([_session(i) for i in range(12)])
    (hkey,) = [h for h in store.hole_rules if h.startswith("get_reservation" + SEP)]
    assert allowed_shapes(store.hole_shapes[hkey]) == {"X"}
    right, wrong = SessionState(), SessionState()
    right.add_user("please look up reservation W9P4TT for me")
    wrong.add_user("please look up reservation IDs for me")
    assert store.candidates(hkey, right)[:1] == ["W9P4TT"]
    assert "IDs" not in store.candidates(hkey, wrong)
    assert store.hole_lengths[hkey] == Counter({6: 12})
    code = SessionState()  # the right shape, but an airport code's length: dropped too
    code.add_user("please look up reservation JFK for me")
    assert store.candidates(hkey, code) == []
    store.hole_lengths.clear()
    store.invalidate()
    assert store.candidates(hkey, code)[:1] == ["JFK"]
    store.hole_shapes.clear()  # the same store without its shapes: the rule's value returns
    store.invalidate()
    assert store.candidates(hkey, wrong)[:1] == ["IDs"]


def test_shapes_survive_save_and_load(tmp_path):
    store = mine([_session(i) for i in range(12)])
    store.save(tmp_path / "s.json")
    back = PatternStore.load(tmp_path / "s.json")
    assert back.hole_shapes == store.hole_shapes
    assert back.hole_lengths == store.hole_lengths and back.hole_lengths  # int keys again


def test_a_shaped_hole_with_few_lengths_is_length_bound():
    assert MAX_LENGTHS == 2
    shaped = {"X"}
    assert allowed_lengths(Counter({3: 40}), shaped) == {3}
    assert allowed_lengths(Counter({3: 40, 4: 2}), shaped) == {3, 4}
    assert allowed_lengths(Counter({2: 5, 3: 5, 4: 5}), shaped) is None  # lengths vary
    assert allowed_lengths(Counter({3: 40}), None) is None  # unshaped: free text, paths


def _hole(store):
    (hkey,) = [h for h in store.hole_rules if h.startswith("get_reservation" + SEP)]
    return hkey


def test_a_shaped_hole_short_of_values_backs_off_to_what_the_user_typed():
    store = mine([_session(i) for i in range(12)])  # rule: the word after "reservation"
    hkey = _hole(store)
    state = SessionState()
    state.add_user("hello")  # the rules read the latest and the first message: no id in either
    state.add_user("my reservations are A1B2C3 and D4E5F6, flight HAT215 on 2024-05-20")
    state.add_user("JFK is my airport, and ZZZZZZ is a typo")
    state.add_user("please look up that one for me")  # the rule's word: "that", no id
    # latest message first, in span order; the airport code (length 3) and the date (shape
    # X-X-X) cannot be reservation ids
    assert store.candidates(hkey, state) == ["ZZZZZZ", "A1B2C3", "D4E5F6", "HAT215"]
    state.add_user("please look up reservation W9P4TT for me")  # the rule fires again: first
    assert store.candidates(hkey, state) == ["W9P4TT", "ZZZZZZ", "A1B2C3", "D4E5F6", "HAT215"]


def test_no_back_off_for_unshaped_holes_or_values_only_a_tool_printed():
    store = mine([_session(i) for i in range(12)])
    hkey = _hole(store)
    state = SessionState()
    state.add_user("hello")
    state.add_step(ToolCall("lookup", {}), '{"ids": ["A1B2C3", "D4E5F6"]}')  # never typed
    assert store.candidates(hkey, state) == []
    typed = SessionState()
    for text in ("hello", "A1B2C3 please", "thanks"):
        typed.add_user(text)
    assert store.candidates(hkey, typed) == ["A1B2C3"]
    store.hole_shapes.clear()  # unshaped (free text): no back-off at all
    store.invalidate()
    assert store.candidates(hkey, typed) == []



def test_the_back_off_values_are_calibrated_with_the_rules():
    store = mine([_session(i) for i in range(12)])
    hkey = _hole(store)
    before = list(store.rank_stats[hkey]["plain"])
    late = Trace(session_id="late", source="t", steps=[
        Step(role="user", text="hello"),
        Step(role="user", text="my reservation is A1B2C3"),
        Step(role="user", text="please look up that one for me"),
        Step(role="tool", call=ToolCall("get_reservation", {"id": "A1B2C3"}),
             output='{"id": "A1B2C3"}')])
    store.calibrate(late)  # the rule reads "that"; the typed id is the back-off's first value
    after = store.rank_stats[hkey]["plain"]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 0, 0, 0, 0]
