"""OpenAI chat messages -> Trace, shared by tau-bench, ToolBench and paste's own JSONL format.

Accepts assistant `tool_calls` (arguments as a JSON string or object) and the legacy
`function_call`; outputs come from `tool` / `function` messages, matched by `tool_call_id`
when present, else by order. A `Finish` function call (ToolBench) is the final answer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from paste.patterns.bash import bash_kind
from paste.patterns.loaders._common import looks_like_error, parse_json_arguments
from paste.patterns.trace import LoadIssue, Step, ToolCall, Trace
from paste.patterns.values import stated_date

_FINISH = {"Finish"}


def _function_call(raw: Any) -> dict | None:
    if isinstance(raw, str):  # ToolBench sometimes stores a Python repr of the dict
        try:
            raw = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return None
    return raw if isinstance(raw, dict) else None


def tool_names(raw: Any) -> frozenset[str] | None:
    """The tool names of a session's offered tools: an OpenAI `tools` list
    (`{"type": "function", "function": {"name": ...}}`), a legacy `functions` list
    (`{"name": ...}`) or plain names; None when `raw` is not such a list (tools unknown)."""
    if not isinstance(raw, list):
        return None
    names = set()
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            return None
        names.add(name)
    return frozenset(names)


def _named_functions(raw: list) -> Iterator[dict]:
    """The function objects of an OpenAI `tools` list (`{"function": {...}}`) or legacy
    `functions` list that have a string name; other items are skipped."""
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            yield item


def tool_params(raw: Any) -> dict[str, tuple[str, ...]] | None:
    """The required parameter names of each offered tool of an OpenAI `tools` or legacy
    `functions` list whose schema lists them (`parameters.required`); None when `raw` is not
    a list. Tools without such a schema are left out (their parameters are unknown)."""
    if not isinstance(raw, list):
        return None
    out: dict[str, tuple[str, ...]] = {}
    for item in _named_functions(raw):
        schema = item.get("parameters")
        required = schema.get("required", []) if isinstance(schema, dict) else None
        if isinstance(required, list) and all(isinstance(r, str) for r in required):
            out[item["name"]] = tuple(required)
    return out


def tool_docs(raw: Any) -> dict[str, str] | None:
    """The description of each offered tool of an OpenAI `tools` or legacy `functions` list
    that has a non-empty one; None when `raw` is not a list."""
    if not isinstance(raw, list):
        return None
    out: dict[str, str] = {}
    for item in _named_functions(raw):
        text = item.get("description")
        if isinstance(text, str) and text.strip():
            out[item["name"]] = text
    return out


def messages_to_trace(
    session_id: str,
    source: str,
    messages: list,
    where: str,
    issues: list[LoadIssue],
    timings: dict[str, dict[str, float]] | None = None,
) -> Trace | None:
    """Build a Trace; a malformed message or call makes the whole session an issue (None)."""
    trace = Trace(session_id=session_id, source=source)
    by_id: dict[str, Step] = {}
    unanswered: list[Step] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            issues.append(LoadIssue(f"{where}.messages[{i}]", "message without role"))
            return None
        role, content = m["role"], m.get("content")
        if role == "system":
            if trace.today is None:
                trace.today = stated_date(str(content or ""))
            continue
        if role == "user":
            trace.steps.append(Step(role="user", text=str(content or "")))
        elif role == "assistant":
            if content:
                trace.steps.append(Step(role="assistant", text=str(content)))
            calls = list(m.get("tool_calls") or [])
            if m.get("function_call") is not None:
                calls.append({"function": _function_call(m["function_call"]), "id": ""})
            for j, tc in enumerate(calls):
                fn = tc.get("function") if isinstance(tc, dict) else None
                args = (
                    parse_json_arguments(fn.get("arguments", "{}"))
                    if isinstance(fn, dict)
                    else None
                )
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or args is None:
                    issues.append(
                        LoadIssue(
                            f"{where}.messages[{i}].tool_calls[{j}]",
                            "call without a name or with non-object arguments",
                        )
                    )
                    return None
                if fn["name"] in _FINISH:
                    trace.final_answer = str(args.get("final_answer", ""))
                    continue
                call_id = str(tc.get("id") or "")
                kind = (
                    bash_kind(args["command"])
                    if fn["name"] == "bash" and isinstance(args.get("command"), str)
                    else fn["name"]
                )
                step = Step(role="tool", call=ToolCall(fn["name"], args, kind, call_id))
                if timings and call_id in timings:
                    step.timings = dict(timings[call_id])
                trace.steps.append(step)
                unanswered.append(step)
                if call_id:
                    by_id[call_id] = step
        elif role in ("tool", "function"):
            ref = m.get("tool_call_id")
            answered = by_id.get(ref) if ref else None
            if answered is None and unanswered:
                answered = unanswered[0]
            if answered is None:
                continue  # output of the Finish call or of nothing: not a tool step
            if answered in unanswered:
                unanswered.remove(answered)
            answered.output = "" if content is None else str(content)
            failed = (
                m.get("status") == "error"
                or looks_like_error(answered.output)
                or _json_error(answered.output)
            )
            answered.status = "error" if failed else "ok"
    return trace


def _json_error(output: str) -> bool:
    """ToolBench wraps outputs as {"error": "...", "response": ...}; a non-empty error fails."""
    if not output.startswith('{"error"'):
        return False
    args = parse_json_arguments(output)
    return bool(args and args.get("error"))
