"""FireAct HotpotQA ReAct trajectories: `{index: {traj: [chat messages], ...}}` in one JSON file.

The assistant writes `Thought: ...\\nAction: search[query]` (a `search` call with argument
`query`; `lookup[...]`/`click[...]` likewise) or `finish[answer]` (the final answer, not a tool
call); the next user message `Observation: ...` is the call's output.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path

from paste.patterns.loaders._common import read_json_files, write_json_subsets
from paste.patterns.trace import LoadIssue, LoadResult, Step, ToolCall, Trace

NAME = "fireact-hotpotqa"
_ACTION = re.compile(r"Action:\s*(\w+)\[(.*)\]\s*$", re.DOTALL)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if "hotpotqa" in p.name)


def detect(folder: Path) -> bool:
    return bool(_files(folder))


def _steps(key: str, messages: list, where: str, issues: list[LoadIssue]) -> Trace | None:
    trace = Trace(session_id=key, source=NAME)
    pending: Step | None = None
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or not isinstance(m.get("content"), str):
            issues.append(LoadIssue(f"{where}[{i}]", "message without role/content"))
            return None
        text = m["content"]
        if m["role"] == "assistant":
            match = _ACTION.search(text)
            if match is None:
                trace.steps.append(Step(role="assistant", text=text))
                continue
            action, arg = match.group(1), match.group(2).strip()
            trace.steps.append(Step(role="assistant", text=text[: match.start()].strip()))
            if action == "finish":
                trace.final_answer = arg
                pending = None
                continue
            pending = Step(role="tool", call=ToolCall(action, {"query": arg}))
            trace.steps.append(pending)
        elif pending is not None:
            obs = text[len("Observation:") :].strip() if text.startswith("Observation:") else text
            pending.output = obs
            pending = None
        elif text.startswith("Observation:"):
            continue  # the "Episode finished" message after finish[...]
        else:
            trace.steps.append(Step(role="user", text=text))
    return trace


def load(folder: Path, tenant: str = "default") -> LoadResult:
    result = LoadResult(source=NAME)
    for path, data in read_json_files(_files(folder), dict, result.issues):
        for key, record in data.items():
            where = f"{path.name}[{key!r}].traj"
            traj = record.get("traj") if isinstance(record, dict) else None
            if isinstance(traj, str):
                try:
                    traj = ast.literal_eval(traj)
                except (ValueError, SyntaxError):
                    traj = None
            if not isinstance(traj, list):
                result.issues.append(LoadIssue(where, "missing or unreadable traj"))
                continue
            trace = _steps(str(key), traj, where, result.issues)
            if trace is not None:
                trace.tenant = tenant
                result.traces.append(trace)
    return result


def write_subset(folder: Path, out: Path, keep: Callable[[str], bool]) -> int:
    """Write the records whose session id satisfies `keep` under the same file names."""
    return write_json_subsets(
        _files(folder), out, lambda data: {k: v for k, v in data.items() if keep(str(k))}, indent=1
    )
