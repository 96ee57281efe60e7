"""tau-bench historical trajectories: a JSON list of runs `{task_id, trial, reward, info, traj}`.

`traj` is an OpenAI chat transcript (assistant `tool_calls` with JSON-string arguments, `tool`
messages with the output). Session id: `<task_id>-<trial>`. A tool output starting with
"Error" marks the call as failed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from paste.patterns.loaders._common import read_json_files, write_json_subsets
from paste.patterns.loaders.openai_messages import messages_to_trace
from paste.patterns.trace import LoadIssue, LoadResult

NAME = "tau-bench-gpt4o-airline"


def _files(folder: Path) -> list[Path]:
    out = []
    for p in sorted(folder.glob("*.json")):
        if "airline" in p.name or "retail" in p.name:
            out.append(p)
    return out


def detect(folder: Path) -> bool:
    return bool(_files(folder))


def _session_id(run: dict, i: int) -> str:
    return f"{run.get('task_id', i)}-{run.get('trial', 0)}"


def load(folder: Path, tenant: str = "default") -> LoadResult:
    result = LoadResult(source=NAME)
    for path, data in read_json_files(_files(folder), list, result.issues):
        for i, run in enumerate(data):
            where = f"{path.name}[{i}]"
            if not isinstance(run, dict) or not isinstance(run.get("traj"), list):
                result.issues.append(LoadIssue(where, "run without a traj list"))
                continue
            trace = messages_to_trace(_session_id(run, i), NAME, run["traj"], where, result.issues)
            if trace is not None:
                trace.tenant = tenant
                trace.group = str(run.get("task_id", trace.session_id))
                result.traces.append(trace)
    return result


def write_subset(folder: Path, out: Path, keep: Callable[[str], bool]) -> int:
    return write_json_subsets(
        _files(folder), out, lambda data: [r for i, r in enumerate(data) if keep(_session_id(r, i))]
    )
