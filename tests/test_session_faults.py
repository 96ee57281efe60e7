"""Every fault goes back to the model as a tool result and the session completes; an engine
failure ends the run with status "error" and keeps every committed message; traces written by
sessions load back with paste's own trace loader."""

from __future__ import annotations

import os
import threading

import pytest

from paste.errors import InvalidArgumentError
from paste.parsing import parse_tool_calls
from paste.patterns.loaders import paste_jsonl
from paste.patterns.loaders.openai_messages import tool_docs, tool_params
from paste.session import MALFORMED_PREFIX, ToolResultEvent, open_session
from paste.tools import ToolExecutor, ToolRegistry
from test_session_support import FakeScriptedPolicy, call_text, shared_tiny_folder, tiny_engine

RELEASE = threading.Event()  # lets the hanging tool's thread end at teardown


def crash(code: int) -> str:
    """Exit the tool's process without a result (module level: the spawned child imports it)."""
    os._exit(code)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory))
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def executor():
    reg = ToolRegistry()

    @reg.tool(effect="read_only", timeout_s=10)
    def search(query: str, top_k: int = 2) -> list[dict]:
        """Search the index."""
        return [{"title": f"{query} {i}"} for i in range(top_k)]

    @reg.tool(timeout_s=10)
    def boom(reason: str) -> str:
        raise RuntimeError(reason)

    @reg.tool(timeout_s=0.2)
    def hang() -> str:
        RELEASE.wait()
        return "released"

    reg.add_function(crash, isolation="process", timeout_s=60)
    ex = ToolExecutor(reg)
    yield ex
    RELEASE.set()
    ex.shutdown()


MALFORMED = '{"name": "search", "arguments": {"query": 1+2}}'
FAULTS = {
    "malformed": (MALFORMED, "malformed_call",
                  MALFORMED_PREFIX + parse_tool_calls(MALFORMED, format="json").errors[0]),
    "unknown_tool": (call_text("nope"), "unknown_tool",
                     "unknown tool 'nope'; available tools: search, boom, hang, crash"),
    "bad_arguments": (call_text("search", query="q", top_k="many"), "invalid_arguments",
                      "invalid arguments for tool 'search': top_k: Input should be a valid "
                      "integer, unable to parse string as an integer"),
    "raises": (call_text("boom", reason="disk on fire"), "tool_error",
               "tool 'boom' raised RuntimeError: disk on fire"),
    "hangs": (call_text("hang"), "timeout", "tool 'hang' timed out after 0.2 s"),
    "crashes": (call_text("crash", code=3), "crashed", "tool 'crash' crashed: exit code 3"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_becomes_the_tool_result_and_the_session_completes(engine, executor, fault):
    text, kind, message = FAULTS[fault]
    policy = FakeScriptedPolicy(engine, [text, "Sorry, the tool failed."])
    s = open_session(engine, system="Fault test.", turn_params=policy, executor=executor,
                     tools=executor.registry)
    events = list(s.stream("Do it"))
    s.close()
    assert [e for e in events if isinstance(e, ToolResultEvent)] == [
        ToolResultEvent("call_1", False, message, kind)]
    assert s.status == "completed" and s.final_text == "Sorry, the tool failed."
    tool_message = {"role": "tool", "tool_call_id": "call_1", "content": message}
    if fault == "malformed":
        assistant = {"role": "assistant", "content": MALFORMED}  # not a call: no tool_calls
    else:
        call = parse_tool_calls(text, format="json").calls[0]
        assistant = {"role": "assistant", "content": "", "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json}}]}
        tool_message = {"role": "tool", "tool_call_id": "call_1", "name": call.name,
                        "content": message}
    assert s.messages == [
        {"role": "system", "content": "Fault test."},
        {"role": "user", "content": "Do it"},
        assistant,
        tool_message,
        {"role": "assistant", "content": "Sorry, the tool failed."},
    ]
    assert (s.metrics()["num_tool_calls"], s.metrics()["num_tool_errors"]) == (1, 1)


def test_engine_refusal_ends_the_run_with_an_error_and_keeps_messages(tmp_path_factory):
    small = tiny_engine(shared_tiny_folder(tmp_path_factory), max_model_len=400)
    reg = ToolRegistry()

    @reg.tool(effect="read_only")
    def big() -> str:
        return "x " * 400

    try:
        with ToolExecutor(reg) as ex:
            policy = FakeScriptedPolicy(small, [call_text("big"), "never"])
            s = open_session(small, tools=reg, turn_params=policy, executor=ex, parser="json")
            result = s.run("Go")
            prompt = s.prompt_ids()
            s.close()
    finally:
        small.shutdown()
    assert result.status == "error"
    assert result.final_text == (
        f"error: the model turn failed: conversation of {len(prompt)} tokens reaches "
        "max_model_len 400")
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool"]
    assert result.messages[2]["content"] == "x " * 400


def test_traces_append_and_load_back_with_the_patterns_loader(engine, executor, tmp_path):
    script = [call_text("search", query="lyon", top_k=1), call_text("boom", reason="no"),
              "Lyon 0."]
    ids = []
    for tenant in ("acme", "globex"):
        policy = FakeScriptedPolicy(engine, script)
        with open_session(engine, tools=executor.registry, system="Trace test.", tenant=tenant,
                          turn_params=policy, executor=executor) as s:
            s.run("Find Lyon")
            s.write_trace(tmp_path / "sessions.jsonl")
            ids.append(s.session_id)
            record = s.trace()
    assert len((tmp_path / "sessions.jsonl").read_text().splitlines()) == 2
    assert set(record["timings"]) == {"call_1", "call_2", "2", "4", "6"}
    assert set(record["timings"]["call_1"]) == {
        "started_at", "queue_s", "tool_s", "observed_s", "dispatched_at"}
    assert record["messages"][5]["status"] == "error" and "status" not in record["messages"][3]
    loaded = paste_jsonl.load(tmp_path)
    assert loaded.issues == []
    assert [(t.session_id, t.tenant) for t in loaded.traces] == [
        (ids[0], "acme"), (ids[1], "globex")]
    trace = loaded.traces[1]
    assert [(st.role, st.call.name if st.call else None, st.output, st.status)
            for st in trace.steps] == [
        ("user", None, None, "ok"),
        ("tool", "search", '[{"title": "lyon 0"}]', "ok"),
        ("tool", "boom", "tool 'boom' raised RuntimeError: no", "error"),
    ]
    assert trace.final_answer == "Lyon 0."
    assert trace.steps[1].timings == record["timings"]["call_1"]
    names = sorted(executor.registry.names())
    required = tool_params(executor.registry.openai_tools())
    described = tool_docs(executor.registry.openai_tools())
    assert record["tools"] == [
        {"type": "function", "function": {
            "name": n, **({"description": described[n]} if n in described else {}),
            "parameters": {"type": "object", "required": list(required[n])}}}
        for n in names]
    assert required["boom"] == ("reason",)
    assert described == {"search": "Search the index.",  # boom and hang have no docstring
                         "crash": "Exit the tool's process without a result (module level: "
                                  "the spawned child imports it)."}
    assert trace.params == required  # the record's schemas load back
    assert trace.docs == described  # and their descriptions
    assert trace.tools == frozenset(names)


def test_a_sessions_environment_is_recorded_in_its_trace_and_loads_back(engine, executor,
                                                                         tmp_path):
    env = {"root": {"docs": {"a.txt": "x"}}, "balance": 12.5}
    policy = FakeScriptedPolicy(engine, [call_text("search", query="lyon", top_k=1), "Done."])
    with open_session(engine, tools=executor.registry, turn_params=policy, executor=executor,
                      environment=env) as s:
        env["balance"] = 0  # the session holds a copy: the caller's later change is not its
        s.run("Find Lyon")
        s.write_trace(tmp_path / "sessions.jsonl")
        record = s.trace()
    assert record["environment"] == {"root": {"docs": {"a.txt": "x"}}, "balance": 12.5}
    (trace,) = paste_jsonl.load(tmp_path).traces
    assert trace.env == {"root": {"docs": {"a.txt": "x"}}, "balance": 12.5}
    assert paste_jsonl.trace_to_record(trace)["environment"] == trace.env
    with open_session(engine, tools=executor.registry, executor=executor) as s:
        assert "environment" not in s.trace()  # none given: none recorded


@pytest.mark.parametrize("bad", [{"when": object()}, {"x": float("nan")}])
def test_an_environment_json_cannot_hold_is_refused(engine, executor, bad):
    with pytest.raises(InvalidArgumentError, match="environment must be a JSON value"):
        open_session(engine, tools=executor.registry, executor=executor, environment=bad)
