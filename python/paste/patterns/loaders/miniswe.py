"""mini-swe-agent trajectories: gzip JSON Lines, one object per instance with `messages`.

Each assistant message has THOUGHT text and one ```bash block: a call of the single `bash`
tool with argument `command`, kind `bash:<head>`. The next user message is the observation
(`<returncode>N</returncode><output>...`); a non-zero return code marks the call as failed.
`created` (unix seconds) of each assistant message is kept as `timings["created"]`.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path

from paste.patterns.bash import bash_kind
from paste.patterns.errors import TraceFormatError
from paste.patterns.loaders._common import read_json_lines
from paste.patterns.trace import LoadIssue, LoadResult, Step, ToolCall, Trace

NAME = "mini-swe-agent-gemini3pro-swebv"
FILE = "trajectories.compact.jsonl.gz"
_BLOCK = re.compile(r"```bash\s*\n(.*?)\n?```", re.DOTALL)
_RC = re.compile(r"<returncode>\s*(-?\d+)\s*</returncode>")


def detect(folder: Path) -> bool:
    return (folder / FILE).is_file()


def _trace(record: dict, where: str, issues: list[LoadIssue]) -> Trace | None:
    messages = record.get("messages")
    sid = record.get("instance_id")
    if not isinstance(messages, list) or not isinstance(sid, str):
        issues.append(LoadIssue(where, "record without instance_id/messages"))
        return None
    trace = Trace(session_id=sid, source=NAME)
    pending: Step | None = None
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            issues.append(LoadIssue(f"{where}.messages[{i}]", "message without text content"))
            return None
        role, text = m.get("role"), m["content"]
        if role == "system":
            continue
        if role == "assistant":
            match = _BLOCK.search(text)
            trace.steps.append(
                Step(role="assistant", text=text[: match.start()] if match else text)
            )
            if match is None:
                continue
            command = match.group(1).strip()
            pending = Step(
                role="tool", call=ToolCall("bash", {"command": command}, kind=bash_kind(command))
            )
            if isinstance(m.get("created"), (int, float)):
                pending.timings["created"] = float(m["created"])
            trace.steps.append(pending)
        elif pending is not None:
            pending.output = text
            rc = _RC.search(text)
            pending.status = "error" if rc and rc.group(1) != "0" else "ok"
            pending = None
        else:
            trace.steps.append(Step(role="user", text=text))
    return trace


def load(folder: Path, tenant: str = "default") -> LoadResult:
    path = folder / FILE
    if not path.is_file():
        raise TraceFormatError(f"{folder}: no {FILE}")
    result = LoadResult(source=NAME)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        text = f.read()
    for n, record in read_json_lines(path, result.issues, text):
        if not isinstance(record, dict):
            result.issues.append(LoadIssue(f"{FILE}:{n}", "line is not an object"))
            continue
        trace = _trace(record, f"{FILE}:{n}", result.issues)
        if trace is not None:
            trace.tenant = tenant
            result.traces.append(trace)
    return result


def write_subset(folder: Path, out: Path, keep: Callable[[str], bool]) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / FILE, "rt", encoding="utf-8") as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    kept = [ln for ln in lines if keep(str(json.loads(ln).get("instance_id")))]
    with gzip.open(out / FILE, "wt", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")
    summary = folder / "results_summary.json"
    if summary.is_file():
        (out / summary.name).write_bytes(summary.read_bytes())
    return len(kept)
