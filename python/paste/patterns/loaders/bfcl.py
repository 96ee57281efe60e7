"""BFCL v4 multi-turn: questions (`BFCL_v4_multi_turn_base.json`, JSON Lines) joined by id with
ground-truth call sequences (`possible_answer/` same file name) and function docs
(`multi_turn_func_doc/*.json`, JSON Lines, used to name positional arguments).

Ground truth is a list per user turn of Python call strings, e.g. `mv(source='a', destination='b')`.
The files hold no tool outputs: each conversation's calls are run, in order, on BFCL's own API
classes loaded with its `initial_config` (bfcl_backend.py), which gives every step its real
output and status. Without the bfcl-eval package the steps keep `output=None` and one issue
says so. `initial_config` (the API state the calls act on) is also kept as `Trace.env`. The web-search questions have no call sequences and are
not loaded. `involved_classes` (the API classes whose functions the model was given) become
`Trace.tools`: the functions of each class's doc file (CLASS_DOCS); None when a class has no
doc file. Their documented descriptions become `Trace.docs`, their schemas' required
parameters `Trace.params`.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from paste.patterns.errors import TraceFormatError
from paste.patterns.loaders import bfcl_backend
from paste.patterns.loaders._common import read_json_lines
from paste.patterns.trace import LoadIssue, LoadResult, Step, ToolCall, Trace

NAME = "bfcl-v4-multi-turn"
QUESTIONS = "BFCL_v4_multi_turn_base.json"
# A function's description starts with its API class's ("This tool belongs to the trading
# system, which ...") and then this marker and the function's own ("Add a stock to ...").
OWN_DOC = "Tool description:"
# API class -> its function doc file in multi_turn_func_doc/ (BFCL's naming)
CLASS_DOCS = {
    "GorillaFileSystem": "gorilla_file_system",
    "MathAPI": "math_api",
    "MessageAPI": "message_api",
    "TwitterAPI": "posting_api",
    "TicketAPI": "ticket_api",
    "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking",
    "VehicleControlAPI": "vehicle_control",
    "WebSearchAPI": "web_search",
    "MemoryAPI_kv": "memory_kv",
    "MemoryAPI_vector": "memory_vector",
    "MemoryAPI_rec_sum": "memory_rec_sum",
}


def detect(folder: Path) -> bool:
    return (folder / QUESTIONS).is_file()


class Docs(NamedTuple):
    """What the function doc files say."""

    orders: dict[str, list[str]]  # function -> its parameter names in documented order
    by_file: dict[str, frozenset[str]]  # doc file stem -> its functions
    described: dict[str, str]  # function -> its own description
    required: dict[str, tuple[str, ...]]  # function -> its required parameters


def _read_docs(folder: Path, issues: list[LoadIssue]) -> Docs:
    orders: dict[str, list[str]] = {}
    by_file: dict[str, frozenset[str]] = {}
    described: dict[str, str] = {}
    required: dict[str, tuple[str, ...]] = {}
    for path in sorted((folder / "multi_turn_func_doc").glob("*.json")):
        names = []
        for _n, doc in read_json_lines(path, issues):
            if isinstance(doc, dict) and isinstance(doc.get("name"), str):
                schema = doc.get("parameters") or {}
                orders[doc["name"]] = list(schema.get("properties") or {})
                needed = schema.get("required")
                if isinstance(needed, list) and all(isinstance(r, str) for r in needed):
                    required[doc["name"]] = tuple(needed)
                if isinstance(doc.get("description"), str):  # the tool's own part of it
                    described[doc["name"]] = doc["description"].split(OWN_DOC)[-1].strip()
                names.append(doc["name"])
        by_file[path.stem] = frozenset(names)
    return Docs(orders, by_file, described, required)


def offered_tools(classes: Any, by_file: dict[str, frozenset[str]]) -> frozenset[str] | None:
    """The functions of the involved API classes; None unless every class has a doc file."""
    if not isinstance(classes, list) or not classes:
        return None
    tools: set[str] = set()
    for cls in classes:
        stem = CLASS_DOCS.get(cls) if isinstance(cls, str) else None
        if stem is None or stem not in by_file:
            return None
        tools |= by_file[stem]
    return frozenset(tools)


def parse_call(text: str, orders: dict[str, list[str]]) -> ToolCall:
    """`name(a, k=v)` -> ToolCall; positional arguments take the documented parameter names.

    Raises ValueError for anything that is not a single call with literal arguments.
    """
    node = ast.parse(text.strip(), mode="eval").body
    if not isinstance(node, ast.Call):
        raise ValueError("not a call")
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if not isinstance(name, str):
        raise ValueError("call without a plain name")
    params = orders.get(name, [])
    args: dict[str, Any] = {}
    for i, a in enumerate(node.args):
        args[params[i] if i < len(params) else f"arg{i}"] = ast.literal_eval(a)
    for kw in node.keywords:
        if kw.arg is None:
            raise ValueError("**kwargs in call")
        args[kw.arg] = ast.literal_eval(kw.value)
    return ToolCall(name, args)


def load(folder: Path, tenant: str = "default") -> LoadResult:
    if not detect(folder):
        raise TraceFormatError(f"{folder}: no {QUESTIONS}")
    result = LoadResult(source=NAME)
    orders, by_file, described, required = _read_docs(folder, result.issues)
    answers_path = folder / "possible_answer" / QUESTIONS
    answers = {
        r.get("id"): r
        for _n, r in read_json_lines(answers_path, result.issues)
        if isinstance(r, dict)
    }
    execute = bfcl_backend.available()
    if not execute:
        result.issues.append(
            LoadIssue(
                QUESTIONS,
                "tool outputs unavailable: bfcl-eval is not "
                f"installed ({bfcl_backend.INSTALL_HINT})",
            )
        )
    for n, q in read_json_lines(folder / QUESTIONS, result.issues):
        where = f"{QUESTIONS}:{n}"
        answer = answers.get(q.get("id")) if isinstance(q, dict) else None
        turns, truth = (q.get("question"), answer.get("ground_truth")) if answer else (None, None)
        if not isinstance(turns, list) or not isinstance(truth, list):
            result.issues.append(LoadIssue(where, "question without ground truth"))
            continue
        trace = Trace(
            session_id=str(q["id"]),
            source=NAME,
            tenant=tenant,
            env=q.get("initial_config"),
            tools=offered_tools(q.get("involved_classes"), by_file),
        )
        if trace.tools is not None:
            trace.docs = {t: described[t] for t in sorted(trace.tools) if t in described}
            trace.params = {t: required[t] for t in sorted(trace.tools) if t in required}
        try:
            for t, turn in enumerate(turns):
                for m in turn if isinstance(turn, list) else []:
                    if isinstance(m, dict) and m.get("role") == "user":
                        trace.steps.append(Step(role="user", text=str(m.get("content", ""))))
                for call_text in truth[t] if t < len(truth) else []:
                    trace.steps.append(Step(role="tool", call=parse_call(call_text, orders)))
        except (ValueError, SyntaxError) as exc:
            result.issues.append(LoadIssue(where, f"unparsable ground-truth call ({exc})"))
            continue
        if execute:
            _run(trace, q, where, result.issues)
        result.traces.append(trace)
    return result


def _run(trace: Trace, question: dict, where: str, issues: list[LoadIssue]) -> None:
    """Give the trace's steps the outputs of its calls run on BFCL's API classes; a
    conversation whose classes cannot be set up keeps no outputs and becomes an issue."""
    classes = question.get("involved_classes")
    try:
        backend = bfcl_backend.Backend(
            classes if isinstance(classes, list) else [], CLASS_DOCS, question.get("initial_config")
        )
    except bfcl_backend.BackendError as exc:
        issues.append(LoadIssue(where, f"tool outputs unavailable ({exc})"))
        return
    for step in trace.steps:
        if step.call is not None:
            step.output, step.status = backend.call(step.call.name, dict(step.call.arguments))


def write_subset(folder: Path, out: Path, keep: Callable[[str], bool]) -> int:
    (out / "possible_answer").mkdir(parents=True, exist_ok=True)
    n = 0
    for rel in (QUESTIONS, f"possible_answer/{QUESTIONS}"):
        lines = (folder / rel).read_text(encoding="utf-8").splitlines()
        kept = [ln for ln in lines if ln.strip() and keep(str(json.loads(ln).get("id")))]
        (out / rel).write_text("\n".join(kept) + "\n", encoding="utf-8")
        n = len(kept)
    for extra in sorted(folder.glob("*.json")) + sorted(
        (folder / "possible_answer").glob("*.json")
    ):
        target = out / extra.relative_to(folder)
        if not target.exists():  # the web-search files: copied whole (no call sequences)
            target.write_bytes(extra.read_bytes())
    (out / "multi_turn_func_doc").mkdir(exist_ok=True)
    for doc in sorted((folder / "multi_turn_func_doc").glob("*.json")):
        (out / "multi_turn_func_doc" / doc.name).write_bytes(doc.read_bytes())
    return n
