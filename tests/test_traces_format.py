"""paste's own JSONL trace format: writer and loader are inverse; tenant and timings survive."""

import json
from pathlib import Path

from paste.patterns.loaders import load_folder
from paste.patterns.loaders.paste_jsonl import trace_to_record, write_traces
from paste.patterns.trace import Step, ToolCall, Trace
from paste.server.predictors import run_trace

FIXTURES = Path(__file__).resolve().parent / "data" / "traces_fixtures"


def _trace() -> Trace:
    return Trace(
        session_id="s1",
        source="paste-jsonl",
        tenant="acme",
        steps=[
            Step(role="user", text="open README.md"),
            Step(
                role="tool",
                call=ToolCall("bash", {"command": "cat README.md"}, call_id="c1"),
                output="# paste",
                timings={"tool_s": 0.25, "queue_s": 0.0},
            ),
            Step(
                role="tool",
                call=ToolCall("lookup", {"id": 7}, call_id="c2"),
                output="Error: no such id",
                status="error",
            ),
        ],
        final_answer="done",
    )


def test_record_is_openai_messages():
    record = trace_to_record(_trace())
    assert record["session_id"] == "s1" and record["tenant"] == "acme"
    assert [m["role"] for m in record["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert record["messages"][1]["tool_calls"][0]["function"] == {
        "name": "bash",
        "arguments": json.dumps({"command": "cat README.md"}),
    }
    assert record["timings"] == {"c1": {"tool_s": 0.25, "queue_s": 0.0}}


def test_write_then_load_round_trip(tmp_path):
    assert write_traces([_trace()], tmp_path / "sessions.jsonl") == 1
    result = load_folder(tmp_path)
    assert result.issues == []
    (back,) = result.traces
    assert (back.session_id, back.tenant, back.final_answer) == ("s1", "acme", "done")
    assert [(c.name, c.kind, c.arguments) for c in back.calls] == [
        ("bash", "bash:cat", {"command": "cat README.md"}),
        ("lookup", "lookup", {"id": 7}),
    ]
    tools = [s for s in back.steps if s.call]
    assert [(s.output, s.status, s.timings) for s in tools] == [
        ("# paste", "ok", {"tool_s": 0.25, "queue_s": 0.0}),
        ("Error: no such id", "error", {}),
    ]


def test_fixture_keeps_record_tenant():
    assert {t.tenant for t in load_folder(FIXTURES / "paste-jsonl").traces} == {"acme"}


def test_the_environment_round_trips_and_reaches_an_online_learned_run(tmp_path):
    trace = _trace()
    trace.env = {"root": {"README.md": "# paste"}}
    write_traces([trace], tmp_path / "sessions.jsonl")
    (back,) = load_folder(tmp_path).traces
    assert back.env == {"root": {"README.md": "# paste"}}
    assert "environment" not in trace_to_record(_trace())  # none: the key is left out
    # a live session's record, learned online from its second run: the run keeps the env
    record = trace_to_record(trace)
    learned = run_trace(record, 3)
    assert learned is not None and learned.env == {"root": {"README.md": "# paste"}}
    assert [c.name for c in learned.calls] == ["lookup"]
