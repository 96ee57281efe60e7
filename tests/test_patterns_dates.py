"""The session's current date (Trace.today / SessionState.today): read from a system prompt,
kept through paste JSONL, and used to date the user's dates written without a year."""

from pathlib import Path

from paste.patterns.loaders import load_folder
from paste.patterns.loaders.paste_jsonl import trace_to_record, write_traces
from paste.patterns.state import SessionState
from paste.patterns.trace import Step, ToolCall, Trace
from paste.patterns.values import locate_message, stated_date, written_dates

FIXTURES = Path(__file__).resolve().parent / "data" / "traces_fixtures"


def test_a_date_without_a_year_takes_the_year_nearest_today():
    text = "move it from May 23rd to May 24th (24 May), not May 24, 2025, at 12:30 on june 1"
    assert written_dates(text, "2024-05-15") == [
        "2024-05-23", "2024-05-24", "2025-05-24", "2024-06-01"]
    assert written_dates(text) == ["2025-05-24"]  # no today: only the date with its year
    assert written_dates("on January 3 please", "2026-12-20") == ["2027-01-03"]
    assert written_dates("back on December 30", "2027-01-02") == ["2026-12-30"]
    assert written_dates("Feb 29 it is", "2025-03-01") == ["2024-02-29"]  # the leap year near
    assert written_dates("May 5:30 or February 30", "2024-01-01") == []  # a time; no such day


def test_stated_date_is_the_first_valid_iso_date_of_a_prompt():
    assert stated_date("# Policy\nThe current time is 2024-05-15 15:00:00 EST.") == "2024-05-15"
    assert stated_date("version 2024-13-45, today 2023-01-02") == "2023-01-02"
    assert stated_date("build 12024-05-150 and no date") is None
    assert stated_date("") is None


def test_a_dated_session_locates_the_users_yearless_dates():
    undated, dated = SessionState(), SessionState(today="2024-05-15")
    for state in (undated, dated):
        state.add_user("Please change my flight from May 23rd to May 24th.")
    assert "s:date:0" not in undated.entries[-1].locs
    assert {k: v for k, v in dated.entries[-1].locs.items() if k.startswith("s:date")} == {
        "s:date:0": "2024-05-23", "s:date:1": "2024-05-24"}
    assert dated.fork().today == "2024-05-15"
    assert locate_message("May 24th", "2024-05-15")["s:date:0"] == "2024-05-24"
    assert "s:date:0" not in locate_message("May 24th")


def test_the_tau_bench_system_prompt_dates_its_sessions():
    traces = load_folder(FIXTURES / "tau-bench-gpt4o-airline").traces
    assert [t.today for t in traces] == ["2024-05-15"] * 4
    assert [t.today for t in load_folder(FIXTURES / "bfcl-v4-multi-turn").traces] == [None] * 4


def _trace(sid: str, today: str | None) -> Trace:
    return Trace(session_id=sid, source="paste-jsonl", today=today, steps=[
        Step(role="user", text="rebook for May 24th"),
        Step(role="tool", call=ToolCall("search", {"date": "2024-05-24"}), output="[]")])


def test_paste_jsonl_keeps_the_date_as_a_system_message(tmp_path):
    record = trace_to_record(_trace("a", "2024-05-15"))
    assert record["messages"][0] == {"role": "system",
                                     "content": "The current date is 2024-05-15."}
    assert trace_to_record(_trace("b", None))["messages"][0]["role"] == "user"
    write_traces([_trace("a", "2024-05-15"), _trace("b", None)], tmp_path / "s.jsonl")
    assert [t.today for t in load_folder(tmp_path).traces] == ["2024-05-15", None]


def test_days_from_today_and_the_allowed_range():
    from paste.patterns.shapes import DAYS_MARGIN, allowed_days, days_from, in_days

    assert DAYS_MARGIN == 365
    assert days_from("2024-05-24", "2024-05-15") == 9
    assert days_from("1979-09-27", "2024-05-15") == -16302
    assert days_from("2024-05-24", None) is None and days_from("May 24", "2024-05-15") is None
    assert days_from("2024-02-30", "2024-05-15") is None
    assert allowed_days([12, -3, 20], "2024-05-15") == (-368, 385)
    assert allowed_days([9, -3, 20], "2024-05-15") is None  # too few dates to tell
    assert allowed_days([12, -3, 20], None) is None  # the session's date is unknown
    assert in_days("2024-06-01", "2024-05-15", (-368, 385))
    assert not in_days("1979-09-27", "2024-05-15", (-368, 385))
    assert in_days("HAT215", "2024-05-15", (-368, 385))  # not a date: passes


def _flight_session(i: int) -> Trace:
    day = f"2024-05-{16 + i % 10:02d}"
    return Trace(session_id=f"f{i}", source="t", today="2024-05-15", steps=[
        Step(role="user", text=f"search flights on {day}"),
        Step(role="tool", call=ToolCall("search", {"date": day}), output="[]")])


def test_a_dated_hole_drops_dates_far_outside_its_training_range(tmp_path):
    from paste.patterns.mining import mine
    from paste.patterns.store import SEP, PatternStore

    store = mine([_flight_session(i) for i in range(12)])
    (hkey,) = [h for h in store.hole_rules if h.startswith("search" + SEP)]
    assert store.hole_days[hkey] == [12, 1, 10]
    dated, undated = SessionState(today="2024-05-15"), SessionState()
    for state in (dated, undated):
        state.add_user("search flights on 1979-09-27")  # a birth date, same shape and length
    assert store.candidates(hkey, undated)[:1] == ["1979-09-27"]
    assert "1979-09-27" not in store.candidates(hkey, dated)
    near = SessionState(today="2024-05-15")
    near.add_user("search flights on 2025-03-01")  # 290 days on: within the margin
    assert store.candidates(hkey, near)[:1] == ["2025-03-01"]
    store.save(tmp_path / "s.json")
    assert PatternStore.load(tmp_path / "s.json").hole_days == {hkey: [12, 1, 10]}
