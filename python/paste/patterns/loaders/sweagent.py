"""SWE-agent `.traj` files (any depth): `{trajectory: [{action, observation, execution_time?}],
history, info}`; files with only `history` use its assistant `action` fields instead.

SWE-agent commands (open, edit, find_file, submit...) are shell functions in the agent's
container, so every action is a call of the `bash` tool (`command` = the action text) with kind
`bash:<head>`. `execution_time` becomes `timings["tool_s"]`. Session id: the file's path
relative to the folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from paste.patterns.bash import bash_kind
from paste.patterns.errors import TraceFormatError
from paste.patterns.loaders._common import looks_like_error, read_json
from paste.patterns.trace import LoadIssue, LoadResult, Step, ToolCall, Trace

NAME = "swe-agent-demos"


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.traj"))


def detect(folder: Path) -> bool:
    return bool(_files(folder))


def _call_step(action: str, observation: str | None) -> Step:
    command = action.strip()
    step = Step(
        role="tool",
        call=ToolCall("bash", {"command": command}, kind=bash_kind(command)),
        output=observation,
    )
    step.status = "error" if looks_like_error(observation) else "ok"
    return step


def _from_trajectory(trace: Trace, data: dict) -> None:
    history = data.get("history") or []
    task = next(
        (h.get("content") for h in history if isinstance(h, dict) and h.get("role") == "user"), None
    )
    if isinstance(task, str):
        trace.steps.append(Step(role="user", text=task))
    for entry in data["trajectory"]:
        if entry.get("thought"):
            trace.steps.append(Step(role="assistant", text=str(entry["thought"])))
        step = _call_step(str(entry.get("action", "")), entry.get("observation"))
        if isinstance(entry.get("execution_time"), (int, float)):
            step.timings["tool_s"] = float(entry["execution_time"])
        trace.steps.append(step)


def _from_history(trace: Trace, history: list) -> None:
    pending: Step | None = None
    for h in history:
        role = h.get("role")
        if role == "assistant" and isinstance(h.get("action"), str):
            trace.steps.append(Step(role="assistant", text=str(h.get("thought") or "")))
            pending = _call_step(h["action"], None)
            trace.steps.append(pending)
        elif role in ("tool", "user") and pending is not None:
            pending.output = str(h.get("content") or "")
            pending.status = "error" if looks_like_error(pending.output) else "ok"
            pending = None
        elif role == "user":
            trace.steps.append(Step(role="user", text=str(h.get("content") or "")))


def load(folder: Path, tenant: str = "default") -> LoadResult:
    result = LoadResult(source=NAME)
    for path in _files(folder):
        rel = path.relative_to(folder).as_posix()
        try:
            data = read_json(path)
        except TraceFormatError as exc:
            result.issues.append(LoadIssue(rel, str(exc)))
            continue
        trace = Trace(session_id=rel, source=NAME, tenant=tenant)
        if (
            isinstance(data, dict)
            and isinstance(data.get("trajectory"), list)
            and all(isinstance(e, dict) for e in data["trajectory"])
        ):
            _from_trajectory(trace, data)
        elif isinstance(data, dict) and isinstance(data.get("history"), list):
            _from_history(trace, [h for h in data["history"] if isinstance(h, dict)])
        else:
            result.issues.append(LoadIssue(rel, "neither a trajectory nor a history list"))
            continue
        result.traces.append(trace)
    return result


def write_subset(folder: Path, out: Path, keep: Callable[[str], bool]) -> int:
    n = 0
    for path in _files(folder):
        rel = path.relative_to(folder)
        if keep(rel.as_posix()):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(path.read_bytes())
            n += 1
    out.mkdir(parents=True, exist_ok=True)
    return n
