"""Each derivation function: JSON path by rank, typed spans, earlier arguments, the user's
message, the environment, constants, and string templates with holes; plus explain/resolve."""

import json

from paste.patterns.state import SessionState
from paste.patterns.templates import extract, fill
from paste.patterns.trace import ToolCall
from paste.patterns.values import locate_text, spans


def test_json_leaves_by_rank_and_instance_keys_by_rank():
    locs = locate_text(
        json.dumps(
            {
                "reservations": ["AB12CD", "EF34GH"],
                "payment_methods": {"gift_card_1": {"amount": 5}},
            }
        )
    )
    assert locs["j:.reservations.#1"] == "EF34GH"
    assert locs["k:.payment_methods.#0"] == "gift_card_1"
    assert locs["j:.payment_methods.#0.amount"] == "5"


def test_keys_of_a_record_mapping_are_instances_even_without_digits():
    tree = {
        "root": {
            "alex": {
                "type": "directory",
                "contents": {
                    "Documents": {"type": "directory", "contents": {}},
                    "tmp": {"type": "directory", "contents": {}},
                },
            }
        },
        "MathAPI": {"precision": 8},
    }
    locs = locate_text(json.dumps(tree))
    # {name: {type, contents}} maps are keyed by instance names (ranked), other keys are schema
    assert locs["k:.root.#0"] == "alex"
    assert locs["k:.root.#0.contents.#0"] == "Documents"
    assert locs["k:.root.#0.contents.#1"] == "tmp"
    assert locs["j:.root.#0.type"] == "directory"
    assert locs["j:.MathAPI.precision"] == "8"
    assert "k:.#1" not in locs  # "root" and "MathAPI" hold different records: named keys


def test_typed_spans_in_order_of_first_occurrence():
    text = (
        "See https://a.org/x, then open src/pkg/mod.py and setup.py; id user_42 and HAT056 "
        "on 2024-05-25 cost 1234.5 in 'quoted words' by Gary Sinise and Ron Howard."
    )
    got = spans(text)
    assert got["url"] == ["https://a.org/x"]
    assert got["path"] == ["src/pkg/mod.py", "setup.py"]
    assert got["ident"][:2] == ["user_42", "HAT056"]
    assert got["date"] == ["2024-05-25"]
    assert got["number"] == ["1234.5"]
    assert got["quoted"] == ["quoted words"]
    assert got["name"] == ["Gary Sinise", "Ron Howard"]


def test_codes_that_start_with_a_digit_are_idents_but_units_and_timestamps_are_not():
    text = ("my reservation ID is 3RK2T9. Also 1N99U6 and commit 3f2a9b1; it took 100ms on the "
            "10th at 3pm, departing 2024-05-01T00:00:00")
    assert spans(text)["ident"] == ["3RK2T9", "1N99U6", "3f2a9b1"]


def test_a_code_that_starts_with_a_digit_is_a_hole_not_a_learned_constant():
    # Before, "3RK2T9" was no span: the call kept it as a literal, and a literal used by
    # sessions of three task groups was emitted for every other session (a training value).
    s = SessionState()
    s.add_user("Sure, my user ID is anya_garcia_5901 and the reservation ID is 3RK2T9.")
    key, holes = extract({"reservation_id": "3RK2T9"}, s)
    assert (json.loads(key), holes) == ([[["reservation_id"], ["H", 0, "str"]]], ["3RK2T9"])


def test_written_dates_are_date_spans_in_iso_form():
    text = (
        "Fly on November 10th, 2026 (or Oct 3 2026), born 14 February 1962 and on the 1st of "
        "December, 2026; also 09/10, 2026, 2026, 11/15, 2024-05-25 and Sept. 3 2025."
    )
    assert spans(text)["date"] == [
        "2026-11-10", "2026-10-03", "1962-02-14", "2026-12-01", "2026-09-10", "2026-11-15",
        "2024-05-25", "2025-09-03",
    ]
    # the same date written twice is one span; impossible dates and month/year are none
    assert spans("May 24, 2024 or 2024-05-24")["date"] == ["2024-05-24"]
    assert "date" not in spans("February 30, 2026, expiring 10/2026, 13/01/2026, May 24")
    assert locate_text("book it for March 3, 2026 please")["s:date:0"] == "2026-03-03"


def test_a_written_date_in_the_user_message_derives_an_iso_argument():
    s = SessionState()
    s.add_user("I want to fly from LAX to JFK on November 15th 2026 in business class.")
    assert s.explain("2026-11-15") == {("user", "b1", "s:date:0"), ("user", "first", "s:date:0")}
    key, holes = extract({"travel_date": "2026-11-15", "travel_class": "business"}, s)
    assert json.loads(key) == [
        [["travel_date"], ["H", 0, "str"]], [["travel_class"], ["L", "business"]]]
    assert holes == ["2026-11-15"]


def test_apostrophes_inside_words_are_not_quotes():
    got = spans("I've been sketching a plan; I'll find my token 'abc123' and don't stop. "
                "It's 'done'")
    assert got["quoted"] == ["abc123", "done"]
    assert "quoted" not in spans("I've been sketching, I'll find it")


def test_names_take_initials_but_never_cross_a_sentence_end_or_a_contraction():
    got = spans("Hello, I'm Kelly. Then we fly to St. Louis with J. R. Smith and New York. "
                "Mike Robbie's father met Pat O'Brien.")
    assert got["name"] == ["St. Louis", "J. R. Smith", "New York", "Mike Robbie", "Pat O'Brien"]


def test_a_code_at_a_sentence_end_is_not_an_abbreviation():
    # "LAS." ends a sentence: only an initial or a short capitalised abbreviation ("J.",
    # "St.", "Mrs.") lets a name run on past a dot
    got = spans("Change it to a nonstop to LAS. Thank you! I fly from ATL. For payment, "
                "Mrs. Davis pays.")
    assert got["name"] == ["Mrs. Davis"]
    assert got["ident"] == ["LAS", "ATL"]


def _state() -> SessionState:
    s = SessionState(env={"root": {"docs": {"contents": {"report.pdf": {}}}}})
    s.add_user("Please look up user omar_rossi_1241 and 'final_report.pdf'")
    s.add_step(
        ToolCall("get_user_details", {"user_id": "omar_rossi_1241"}),
        json.dumps({"reservations": ["UM3OG5", "XY12ZW"]}),
    )
    s.add_step(ToolCall("search", {"query": "x"}), "Results: https://a.org/page1 https://b.org/p2")
    return s


def test_resolve_each_rule_family():
    s = _state()
    assert s.resolve(("out", "k=get_user_details", "j:.reservations.#1")) == "XY12ZW"
    assert s.resolve(("out", "b2", "j:.reservations.#0")) == "UM3OG5"
    assert s.resolve(("out", "b1", "s:url:1")) == "https://b.org/p2"
    assert s.resolve(("arg", "k=get_user_details", "a:.user_id")) == "omar_rossi_1241"
    assert s.resolve(("user", "b1", "s:quoted:0")) == "final_report.pdf"
    assert s.resolve(("env", "first", "k:.root.docs.contents.#0")) == "report.pdf"
    assert s.resolve(("out", "b3", "s:url:0")) is None  # only two outputs so far


def test_explain_lists_every_relative_rule():
    s = _state()
    assert s.explain("UM3OG5") == {
        ("out", "b2", "j:.reservations.#0"),
        ("out", "k=get_user_details", "j:.reservations.#0"),
        ("out", "b2", "s:ident:0"),
        ("out", "k=get_user_details", "s:ident:0"),
        ("out", "b2", "s:quoted:1"),
        ("out", "k=get_user_details", "s:quoted:1"),
    }
    assert ("user", "first", "s:ident:0") in s.explain("omar_rossi_1241")
    assert ("arg", "b2", "a:.user_id") in s.explain("omar_rossi_1241")


def test_template_holes_and_constants():
    s = _state()
    key, holes = extract({"reservation_id": "XY12ZW", "cabin": "economy"}, s)
    assert json.loads(key) == [[["reservation_id"], ["H", 0, "str"]], [["cabin"], ["L", "economy"]]]
    assert holes == ["XY12ZW"]
    key, holes = extract({"command": "curl -s https://b.org/p2 | head -20"}, s)
    assert json.loads(key) == [[["command"], ["T", ["curl -s ", 0, " | head -20"]]]]
    assert holes == ["https://b.org/p2"]
    assert fill(json.loads(key), ["https://a.org/page1"]) == {
        "command": "curl -s https://a.org/page1 | head -20"
    }


def test_numbers_and_nested_arguments_round_trip():
    s = SessionState()
    s.add_step(ToolCall("price", {}), json.dumps({"total": 250, "flight": "HAT001"}))
    args = {"amount": 250.0, "flights": [{"flight_number": "HAT001", "date": "2024-05-01"}]}
    key, holes = extract(args, s)
    assert holes == ["250", "HAT001"]
    assert fill(json.loads(key), holes) == {
        "amount": 250,
        "flights": [{"flight_number": "HAT001", "date": "2024-05-01"}],
    }


def test_context_tokens_mark_errors_and_user_turns():
    s = SessionState()
    s.add_user("hi")
    s.add_step(ToolCall("a", {}), "ok")
    s.add_step(ToolCall("b", {}), "Error: x", "error")
    s.add_user("again")
    s.add_user("and again")
    assert s.context == ["<s>", "a", "b!", "<u>"]
