"""paste's own trace format (docs/trace_format.md): `*.jsonl`, one session object per line:
`{"session_id", "tenant", "messages": [OpenAI chat messages], "timings": {...}}`, optionally
with `"tools"` and `"environment"` (kept as `Trace.env`).

`timings` maps a tool call id to `{"tool_s", "queue_s", "started_at"}` and a message index (as a
string) to `{"model_s", "started_at"}`. `write_traces` is the inverse of `load`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from paste.errors import InternalError
from paste.patterns.loaders._common import read_json_lines
from paste.patterns.loaders.openai_messages import (
    messages_to_trace,
    tool_docs,
    tool_names,
    tool_params,
)
from paste.patterns.trace import LoadIssue, LoadResult, Trace

NAME = "paste-jsonl"


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl"))


def detect(folder: Path) -> bool:
    return bool(_files(folder))


def load(folder: Path, tenant: str | None = None) -> LoadResult:
    """Load every `*.jsonl` file; each record keeps its own tenant unless `tenant` is given."""
    result = LoadResult(source=NAME)
    for path in _files(folder):
        for n, rec in read_json_lines(path, result.issues):
            where = f"{path.name}:{n}"
            if (
                not isinstance(rec, dict)
                or not isinstance(rec.get("messages"), list)
                or not isinstance(rec.get("session_id"), str)
            ):
                result.issues.append(LoadIssue(where, "record without session_id/messages"))
                continue
            timings = rec.get("timings") if isinstance(rec.get("timings"), dict) else {}
            trace = messages_to_trace(
                rec["session_id"], NAME, rec["messages"], where, result.issues, timings
            )
            if trace is not None and trace.steps and trace.steps[-1].role == "assistant":
                trace.final_answer = trace.steps.pop().text  # the closing answer
            if trace is not None:
                trace.tenant = tenant or str(rec.get("tenant") or "default")
                trace.tools = tool_names(rec.get("tools"))
                trace.params = tool_params(rec.get("tools"))
                trace.docs = tool_docs(rec.get("tools"))
                trace.env = rec.get("environment")
                result.traces.append(trace)
    return result


def trace_to_record(trace: Trace) -> dict:
    """The JSONL object of one trace (OpenAI messages; tool calls with JSON-string arguments)."""
    messages: list[dict] = []
    if trace.today is not None:  # read back by messages_to_trace (values.stated_date)
        messages.append({"role": "system", "content": f"The current date is {trace.today}."})
    timings: dict[str, dict[str, float]] = {}
    for i, step in enumerate(trace.steps):
        if step.role in ("user", "assistant") and step.call is None:
            messages.append({"role": step.role, "content": step.text})
            continue
        call = step.call
        if call is None:
            raise InternalError(f"{trace.session_id}: tool step {i} without a call")
        call_id = call.call_id or f"call_{i}"
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                ],
            }
        )
        if step.output is not None:
            tool_msg = {
                "role": "tool",
                "tool_call_id": call_id,
                "name": call.name,
                "content": step.output,
            }
            if step.status == "error":
                tool_msg["status"] = "error"
            messages.append(tool_msg)
        if step.timings:
            timings[call_id] = dict(step.timings)
    if trace.final_answer is not None:
        messages.append({"role": "assistant", "content": trace.final_answer})
    record: dict = {
        "session_id": trace.session_id,
        "tenant": trace.tenant,
        "messages": messages,
        "timings": timings,
    }
    if trace.tools is not None:
        record["tools"] = tools_field(trace.tools, trace.params, trace.docs)
    if trace.env is not None:
        record["environment"] = trace.env
    return record


def tools_field(names: Iterable[str], params: dict[str, tuple[str, ...]] | None = None,
                docs: dict[str, str] | None = None) -> list[dict]:
    """The `tools` field of a record: OpenAI function tools by name, each with its
    description when `docs` has one and a schema listing its required parameters when
    `params` knows them (read back by tool_docs and tool_params)."""
    out: list[dict] = []
    for n in sorted(names):
        function: dict = {"name": n}
        if docs is not None and docs.get(n):
            function["description"] = docs[n]
        if params is not None and n in params:
            function["parameters"] = {"type": "object", "required": list(params[n])}
        out.append({"type": "function", "function": function})
    return out


def write_traces(traces: Iterable[Trace], path: Path) -> int:
    """Write `traces` to one JSONL file; returns the number of sessions written."""
    lines = [json.dumps(trace_to_record(t), ensure_ascii=False) for t in traces]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def _session_id(line: str) -> str | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return str(record.get("session_id")) if isinstance(record, dict) else None


def write_subset(folder: Path, out: Path, keep: Callable[[str], bool]) -> int:
    """Lines whose session satisfies `keep`; malformed lines go to every subset, so the loader
    of each side still reports them."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in _files(folder):
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            sid = _session_id(line) if line.strip() else ""
            if sid is None or (sid and keep(sid)):
                kept.append(line)
                n += sid is not None
        (out / path.name).write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")
    return n
