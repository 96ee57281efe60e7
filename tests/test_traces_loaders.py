"""Every source loader on small fixture folders (exact sessions, calls, kinds, outputs) and on
the real ../shared/traces when present."""

import shutil
from pathlib import Path

import pytest

from paste.patterns.errors import TraceFormatError
from paste.patterns.loaders import bfcl_backend, detect_source, load_folder, source_folders
from paste.patterns.trace import LoadIssue

FIXTURES = Path(__file__).resolve().parent / "data" / "traces_fixtures"
SHARED_TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "traces"

EXPECTED = {  # source: (sessions, calls per session, first kind of each session)
    "bfcl-v4-multi-turn": ([5, 6, 3, 4], ["cd", "cd", "find", "cd"]),
    "fireact-hotpotqa": ([2, 2, 2, 2], ["search"] * 4),
    "mini-swe-agent-gemini3pro-swebv": (
        [27, 20, 22, 21],
        ["bash:find", "bash:ls", "bash:ls", "bash:ls"],
    ),
    "swe-agent-demos": (
        [5, 4, 5, 5],
        ["bash:find_file", "bash:tshark", "bash:find_file", "bash:ls"],
    ),
    "tau-bench-gpt4o-airline": ([2, 2, 2, 2], ["get_reservation_details"] * 4),
    "toolbench-data-example": (
        [5, 3],
        [
            "latest_news_for_currents_news",
            "track_package_for_amex_australia_fastway_australia_tracking",
        ],
    ),
    "paste-jsonl": ([2, 2], ["get_reservation_details"] * 2),
}


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_fixture_loads_exactly(source):
    result = load_folder(FIXTURES / source)
    counts, kinds = EXPECTED[source]
    assert result.source == source
    assert [len(t.calls) for t in result.traces] == counts
    assert [t.calls[0].kind for t in result.traces] == kinds
    if source != "paste-jsonl":
        assert result.issues == []


def test_detection_uses_file_names_not_folder_name(tmp_path):
    shutil.copytree(FIXTURES / "tau-bench-gpt4o-airline", tmp_path / "whatever")
    assert detect_source(tmp_path / "whatever") == "tau-bench-gpt4o-airline"
    with pytest.raises(TraceFormatError):
        detect_source(tmp_path)


def test_a_collection_folder_stands_for_each_of_its_sources():
    assert source_folders(FIXTURES) == [FIXTURES / s for s in sorted(EXPECTED)]


@pytest.mark.parametrize("source", ["swe-agent-demos", "tau-bench-gpt4o-airline"])
def test_a_source_folder_stands_for_itself(source):
    # swe-agent-demos has two sub-folders (tests/, trajectories/) holding .traj files: one kind
    assert source_folders(FIXTURES / source) == [FIXTURES / source]


def test_a_folder_holding_one_source_stands_for_it(tmp_path):
    shutil.copytree(FIXTURES / "tau-bench-gpt4o-airline", tmp_path / "only" / "tau")
    (tmp_path / "only" / "notes").mkdir()
    assert source_folders(tmp_path / "only") == [tmp_path / "only" / "tau"]


def test_a_folder_without_sources_is_a_typed_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TraceFormatError, match="no known trace source layout in it or its sub"):
        source_folders(tmp_path)
    with pytest.raises(TraceFormatError, match="not a directory"):
        source_folders(tmp_path / "missing")


def test_malformed_records_are_reported_with_location():
    result = load_folder(FIXTURES / "paste-jsonl")
    assert result.issues == [
        LoadIssue(
            "sessions.jsonl:3", "not JSON (Expecting property name enclosed in double quotes)"
        ),
        LoadIssue("sessions.jsonl:2", "record without session_id/messages"),
    ]


def test_fireact_search_and_finish():
    trace = load_folder(FIXTURES / "fireact-hotpotqa").traces[0]
    assert trace.session_id == "3522"
    assert [c.arguments for c in trace.calls] == [
        {"query": "Danny Green birth date"},
        {"query": "James Worthy birth date"},
    ]
    assert [s.output for s in trace.steps if s.call] == ["June 22, 1987", "February 27, 1961"]
    assert trace.final_answer == "James Worthy"


def test_bfcl_positional_arguments_take_documented_names():
    trace = load_folder(FIXTURES / "bfcl-v4-multi-turn").traces[0]
    assert [(c.name, c.arguments) for c in trace.calls[:3]] == [
        ("cd", {"folder": "documents"}),
        ("tail", {"file_name": "file1.txt", "lines": 1}),
        ("diff", {"file_name1": "file1.txt", "file_name2": "file2.txt"}),
    ]
    assert trace.env is not None


@pytest.mark.skipif(not bfcl_backend.available(), reason="bfcl-eval not installed")
def test_bfcl_steps_carry_the_outputs_of_the_api_classes():
    traces = load_folder(FIXTURES / "bfcl-v4-multi-turn").traces
    first = [(s.output, s.status) for s in traces[0].steps if s.call]
    assert first == [
        ('{"current_working_directory": "documents"}', "ok"),
        ('{"last_lines": "The quick brown fox jumps over the lazy dog."}', "ok"),
        ('{"diff_lines": "- The quick brown fox jumps over the lazy dog.\\n+ Lorem ipsum dolor '
         'sit amet, consectetur adipiscing elit."}', "ok"),
        ("null", "ok"),
        ("null", "ok"),
    ]
    # ids come from the API's own seeded generator: the same on every load
    second = [s.output for s in traces[1].steps if s.call]
    assert second[2] == '{"user_id": "USR002"}'
    assert second == [s.output for s in load_folder(FIXTURES / "bfcl-v4-multi-turn").traces[1]
                      .steps if s.call]


def test_mini_swe_commands_split_into_head_and_status():
    trace = load_folder(FIXTURES / "mini-swe-agent-gemini3pro-swebv").traces[0]
    first = trace.calls[0]
    assert (first.name, first.kind) == ("bash", "bash:find")
    assert first.arguments == {"command": 'find django/db/models -name "*.py" | grep fields'}
    assert trace.steps[2].timings == {"created": 1763509110.0}


def test_toolbench_tree_fallback_for_failed_run():
    traces = load_folder(FIXTURES / "toolbench-data-example").traces
    assert traces[0].session_id == "G1_answer/69_ChatGPT_DFS_woFilter_w2.json"
    assert len(traces[0].calls) == 5 and traces[0].steps[0].role == "user"


SHARED = {
    "bfcl-v4-multi-turn": (100, 558),
    "fireact-hotpotqa": (200, 331),
    "mini-swe-agent-gemini3pro-swebv": (150, 5750),
    "swe-agent-demos": (22, 232),
    "tau-bench-gpt4o-airline": (100, 610),
    "toolbench-data-example": (15, 47),
}


@pytest.mark.skipif(not SHARED_TRACES.is_dir(), reason="../shared/traces not present")
@pytest.mark.parametrize("source", sorted(SHARED))
def test_shared_development_traces_load(source):
    result = load_folder(SHARED_TRACES / source)
    sessions, calls = SHARED[source]
    assert (len(result.traces), sum(len(t.calls) for t in result.traces)) == (sessions, calls)
    assert result.issues == []


def test_fingerprint_is_what_the_session_did_not_where_it_came_from():
    import dataclasses

    from paste.patterns.trace import Step, ToolCall, Trace

    steps = [Step(role="user", text="find flights"),
             Step(role="tool", call=ToolCall("search", {"a": 1, "b": "x"}), output="r1")]
    a = Trace(session_id="s1", source="one", steps=steps)
    same = Trace(session_id="other/s9", source="two", steps=[
        steps[0], Step(role="tool", call=ToolCall("search", {"b": "x", "a": 1.0}), output="r2")])
    assert a.fingerprint() == same.fingerprint()  # canonical calls; ids and outputs aside
    changed = dataclasses.replace(a, steps=[steps[0], Step(
        role="tool", call=ToolCall("search", {"a": 2, "b": "x"}), output="r1")])
    assert changed.fingerprint() != a.fingerprint()
    said = dataclasses.replace(a, steps=[Step(role="user", text="find trains"), steps[1]])
    assert said.fingerprint() != a.fingerprint()
    assert len(a.fingerprint()) == 64
