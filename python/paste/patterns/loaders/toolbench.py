"""ToolBench answers: `answer/G*_answer/*_ChatGPT_DFS_woFilter_w2.json`, one session per file.

The session is the final chain `answer_generation.train_messages[-1]` (OpenAI messages with a
`function_call`, outputs in `function` messages wrapped as {"error", "response"}). The explored
DFS tree is used only when a file has no final chain (failed runs): its deepest root-to-leaf
path of Action / Action Input nodes becomes the session. Session id: the path under `answer/`.
The offered tools (`answer_generation.function`) become `Trace.tools`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from paste.patterns.errors import TraceFormatError
from paste.patterns.loaders._common import read_json
from paste.patterns.loaders.openai_messages import (
    messages_to_trace,
    tool_docs,
    tool_names,
    tool_params,
)
from paste.patterns.trace import LoadIssue, LoadResult

NAME = "toolbench-data-example"


def _files(folder: Path) -> list[Path]:
    return sorted((folder / "answer").glob("*/*.json")) if (folder / "answer").is_dir() else []


def detect(folder: Path) -> bool:
    return bool(_files(folder))


def _deepest(node: dict) -> list[dict]:
    best: list[dict] = []
    for child in node.get("children") or []:
        if isinstance(child, dict):
            path = _deepest(child)
            best = path if len(path) > len(best) else best
    return [node] + best


def _tree_messages(root: dict) -> list[dict]:
    """OpenAI messages of the deepest DFS path (Action node = name, Action Input = arguments)."""
    messages: list[dict] = []
    name = None
    for node in _deepest(root):
        if node.get("node_type") == "Action":
            name = node.get("description")
        elif node.get("node_type") == "Action Input" and name:
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "function_call": {"name": name, "arguments": node.get("description") or "{}"},
                }
            )
            messages.append(
                {"role": "function", "name": name, "content": str(node.get("observation", ""))}
            )
            name = None
    return messages


def load(folder: Path, tenant: str = "default") -> LoadResult:
    result = LoadResult(source=NAME)
    for path in _files(folder):
        rel = path.relative_to(folder / "answer").as_posix()
        try:
            data = read_json(path)
        except TraceFormatError as exc:
            result.issues.append(LoadIssue(rel, str(exc)))
            continue
        gen = (data.get("answer_generation") or {}) if isinstance(data, dict) else {}
        chains = gen.get("train_messages")
        if isinstance(chains, list) and chains and isinstance(chains[-1], list):
            messages = chains[-1]
        elif isinstance((data.get("tree") or {}).get("tree"), dict):
            messages = [{"role": "user", "content": str(gen.get("query", ""))}]
            messages += _tree_messages(data["tree"]["tree"])
        else:
            result.issues.append(LoadIssue(rel, "neither train_messages nor a DFS tree"))
            continue
        trace = messages_to_trace(rel, NAME, messages, rel, result.issues)
        if trace is not None:
            trace.tenant = tenant
            trace.tools = tool_names(gen.get("function"))
            trace.params = tool_params(gen.get("function"))
            trace.docs = tool_docs(gen.get("function"))
            result.traces.append(trace)
    return result


def write_subset(folder: Path, out: Path, keep: Callable[[str], bool]) -> int:
    n = 0
    for path in _files(folder):
        rel = path.relative_to(folder / "answer")
        if keep(rel.as_posix()):
            (out / "answer" / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / "answer" / rel).write_bytes(path.read_bytes())
            n += 1
    for inst in sorted((folder / "instruction").glob("*.json")):
        (out / "instruction").mkdir(parents=True, exist_ok=True)
        (out / "instruction" / inst.name).write_bytes(inst.read_bytes())
    out.mkdir(parents=True, exist_ok=True)
    return n
