"""Split a docstring into a summary and per-parameter descriptions.

Understands the two common conventions:

  Google:                         NumPy:
    Summary text.                   Summary text.

    Args:                           Parameters
        city (str): City name,      ----------
            may wrap.               city : str
        days: Number of days.           City name, may wrap.

The summary is everything before the first section header. Parameter descriptions are joined
into one line (continuation lines are folded with single spaces). Unknown sections end the
parameter section. Parsing never fails: an unrecognised layout yields no descriptions.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_GOOGLE_PARAM_HEADERS = {"args", "arguments", "parameters", "params", "keyword args"}
_GOOGLE_OTHER_HEADERS = {
    "returns", "return", "yields", "raises", "examples", "example", "note", "notes",
    "attributes", "see also", "warnings", "warning", "todo", "references",
}  # fmt: skip
_NUMPY_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(?::\s*(.*))?$")


@dataclass(frozen=True)
class ParsedDocstring:
    """The summary (may be empty) and a name -> description map (parameters in order)."""

    summary: str
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Parse a raw `__doc__`; None or blank gives an empty result."""
    if not doc or not doc.strip():
        return ParsedDocstring("")
    lines = inspect.cleandoc(doc).splitlines()
    first_section = len(lines)
    for i, line in enumerate(lines):
        if _is_google_header(line) or _is_numpy_header(lines, i):
            first_section = i
            break
    summary = "\n".join(lines[:first_section]).strip()
    params: dict[str, str] = {}
    i = first_section
    while i < len(lines):
        if _is_numpy_header(lines, i):
            is_params = lines[i].strip().lower() in _GOOGLE_PARAM_HEADERS
            end = _section_end(lines, i + 2)
            if is_params:
                params.update(_numpy_items(lines[i + 2 : end]))
            i = end
        elif _is_google_header(line := lines[i]):
            end = _section_end(lines, i + 1)
            if line.strip().rstrip(":").lower() in _GOOGLE_PARAM_HEADERS:
                params.update(_google_items(lines[i + 1 : end]))
            i = end
        else:
            i += 1
    return ParsedDocstring(summary, params)


def _is_google_header(line: str) -> bool:
    stripped = line.strip()
    if line[:1].isspace() or not stripped.endswith(":"):
        return False
    return stripped[:-1].lower() in _GOOGLE_PARAM_HEADERS | _GOOGLE_OTHER_HEADERS


def _is_numpy_header(lines: list[str], i: int) -> bool:
    return (
        i + 1 < len(lines)
        and bool(lines[i].strip())
        and not lines[i][:1].isspace()
        and bool(_NUMPY_UNDERLINE.match(lines[i + 1]))
    )


def _section_end(lines: list[str], start: int) -> int:
    """Index of the next section header at or after start (or len(lines))."""
    for j in range(start, len(lines)):
        if _is_google_header(lines[j]) or _is_numpy_header(lines, j):
            return j
    return len(lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fold(parts: list[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _base_blocks(body: list[str]) -> list[tuple[str, list[str]]]:
    """Non-blank lines as (a line at the section's least indent, the deeper lines below it).

    Deeper lines before the first least-indented line belong to no block and are dropped.
    """
    content = [line for line in body if line.strip()]
    if not content:
        return []
    base = min(_indent(line) for line in content)
    blocks: list[tuple[str, list[str]]] = []
    for line in content:
        if _indent(line) == base:
            blocks.append((line, []))
        elif blocks:
            blocks[-1][1].append(line)
    return blocks


def _google_items(body: list[str]) -> dict[str, str]:
    """Items are the least-indented lines of the section; deeper lines continue them."""
    items: dict[str, list[str]] = {}
    current: str | None = None
    for head, deeper in _base_blocks(body):
        match = _GOOGLE_ITEM.match(head.strip())
        if match:
            current = match.group(1).lstrip("*")
            items[current] = [match.group(3), *deeper]
        elif current is not None:  # an unindented continuation line
            items[current] += [head, *deeper]
    return {name: _fold(parts) for name, parts in items.items()}


def _numpy_items(body: list[str]) -> dict[str, str]:
    """`name : type` lines at the section's base indent; indented lines below describe them."""
    items: dict[str, list[str]] = {}
    for head, deeper in _base_blocks(body):
        match = _NUMPY_ITEM.match(head.strip())
        if match:
            items[match.group(1).lstrip("*")] = deeper
    return {name: _fold(parts) for name, parts in items.items()}
