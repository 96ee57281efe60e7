"""Helpers shared by the source loaders: JSON reading with located errors, subset writing,
status guesses."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sized
from pathlib import Path
from typing import Any

from paste.patterns.errors import TraceFormatError
from paste.patterns.trace import LoadIssue


def read_json(path: Path) -> Any:
    """Parse a whole JSON file; a missing or unparsable file is a TraceFormatError."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TraceFormatError(f"{path}: missing file") from exc
    except json.JSONDecodeError as exc:
        raise TraceFormatError(f"{path}: not JSON ({exc})") from exc


_TOP_LEVEL_NAMES = {dict: "an object", list: "a list"}


def read_json_files(
    paths: list[Path], top: type[dict] | type[list], issues: list[LoadIssue]
) -> Iterator[tuple[Path, Any]]:
    """(path, parsed file) of each whole-JSON file whose top level is a `top` (dict or list);
    a file with another top level becomes an issue."""
    for path in paths:
        data = read_json(path)
        if isinstance(data, top):
            yield path, data
        else:
            issues.append(LoadIssue(path.name, f"top level is not {_TOP_LEVEL_NAMES[top]}"))


def write_json_subsets(
    paths: list[Path], out: Path, subset: Callable[[Any], Sized], indent: int | None = None
) -> int:
    """Write `subset(records)` of each whole-JSON file under its own name in `out`; return the
    number of records written (the split tool's write_subset for one-JSON-per-file sources)."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in paths:
        kept = subset(read_json(path))
        n += len(kept)
        (out / path.name).write_text(json.dumps(kept, indent=indent), encoding="utf-8")
    return n


def read_json_lines(
    path: Path, issues: list[LoadIssue], text: str | None = None
) -> list[tuple[int, Any]]:
    """(line number, object) for each parsable line; bad lines become issues, never dropped."""
    if text is None:
        text = path.read_text(encoding="utf-8")
    rows: list[tuple[int, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            issues.append(LoadIssue(f"{path.name}:{n}", f"not JSON ({exc.msg})"))
    return rows


def parse_json_arguments(text: Any) -> dict[str, Any] | None:
    """Arguments given as a JSON string (or already a dict); None when not a JSON object."""
    if isinstance(text, dict):
        return text
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


_ERROR_START = re.compile(r"^\s*(error|exception|traceback)\b", re.IGNORECASE)


def looks_like_error(output: str | None) -> bool:
    """Status heuristic for sources without an explicit status: the output starts with
    Error/Exception/Traceback."""
    return bool(output) and bool(_ERROR_START.match(output or ""))
