"""Where values live: typed spans in text and leaves of JSON, each under a stable *locator*.

A locator names a position that generalises across sessions, never an instance value:
  `text`             the whole text (short texts only)
  `j:<path>`         a JSON leaf; list items by rank (`#0`), instance-like dict keys by rank
  `k:<path>`         an instance-like dict key itself (a file name in a directory listing)
  `a:<path>`         an argument leaf of an earlier call
  `s:<type>:<rank>`  the rank-th distinct span of a type, in order of first occurrence
Span types: url, path, quoted, ident, date, number, name (capitalised phrase).
`locate_text` / `locate_json` return {locator: value key} (see canonical.value_key).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from paste.patterns.canonical import value_key

MAX_TEXT_CHARS = 20000  # spans are taken from the first MAX_TEXT_CHARS of an output
MAX_RANK = 30  # at most this many distinct spans per type and text
MAX_WHOLE_TEXT = 300  # `text` locator only for texts up to this length

SPAN_PATTERNS: dict[str, re.Pattern[str]] = {
    "url": re.compile(r"https?://[^\s'\"<>\]\)}]+"),
    "path": re.compile(
        r"(?<![\w/.~-])(?:\.{0,2}/)?(?:[\w.-]+/)+[\w.-]*[\w]|"
        r"(?<![\w/.-])[\w-]+\.(?:py|pyx|txt|md|json|cfg|toml|yaml|yml|rst|c|h|"
        r"cpp|js|ts|html|pdf|docx|csv|sh|ini|log|xml|java|go|rs)\b"
    ),
    # A single quote opens only where no word precedes it and closes only where none follows
    # (an apostrophe in "I've ... I'll" is not a quote).
    "quoted": re.compile(r"(?<!\w)'([^'\n]{1,200})'(?!\w)|\"([^\"\n]{1,200})\"|`([^`\n]{1,200})`"),
    "ident": re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*\b"),
    "date": re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    "number": re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?![\w.]|-\d)"),
    # Capitalised words; a dot only ends an initial or abbreviation ("J.", "St."), so a name
    # never runs across a sentence end ("... Kelly. I'm"), and an apostrophe stays in a word
    # only before a capital ("O'Brien"; not "I'm", not a possessive "Robbie's").
    "name": re.compile(r"\b[A-Z](?:[\w-]{0,2}\.|[\w-]*(?:'[A-Z][\w-]*)?)(?:\s+(?:of|the|de|von|van)?"
                       r"\s*[A-Z](?:[\w-]{0,2}\.|[\w-]*(?:'[A-Z][\w-]*)?))+"),
}


def _is_ident(token: str) -> bool:
    """Identifier-like (ids, snake_case, CamelCase, codes), not an ordinary word."""
    if len(token) < 3:
        return False
    if any(c.isdigit() for c in token) or "_" in token:
        return True
    if token.isupper():
        return True
    return any(c.isupper() for c in token[1:]) and not token.isupper()


def spans(text: str) -> dict[str, list[str]]:
    """Distinct typed spans of `text` per type, in order of first occurrence (capped)."""
    text = text[:MAX_TEXT_CHARS]
    out: dict[str, list[str]] = {}
    for typ, pattern in SPAN_PATTERNS.items():
        seen: dict[str, None] = {}
        for m in pattern.finditer(text):
            value = next((g for g in m.groups() if g is not None), None) if m.groups() else None
            value = value if value is not None else m.group(0)
            value = value.rstrip(".,;:") if typ in ("url", "path", "name") else value
            if typ == "ident" and not _is_ident(value):
                continue
            if value and value not in seen:
                seen[value] = None
                if len(seen) >= MAX_RANK:
                    break
        if seen:
            out[typ] = list(seen)
    return out


def span_matches(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, type) spans of `text`, longest first then leftmost;
    used to cut an argument string into literal parts and holes."""
    found: list[tuple[int, int, str]] = []
    for typ, pattern in SPAN_PATTERNS.items():
        for m in pattern.finditer(text):
            g = (
                next((i for i, v in enumerate(m.groups(), 1) if v is not None), 0)
                if m.groups()
                else 0
            )
            start, end = m.start(g), m.end(g)
            if typ in ("url", "path", "name"):
                while end > start and text[end - 1] in ".,;:":
                    end -= 1
            if typ == "ident" and not _is_ident(text[start:end]):
                continue
            if typ == "number" and end - start < 3:
                continue  # small numbers (head -20, line 1) are constants, not data flow
            found.append((start, end, typ))
    found.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
    chosen: list[tuple[int, int, str]] = []
    for s in found:
        if all(s[1] <= c[0] or s[0] >= c[1] for c in chosen):
            chosen.append(s)
    return sorted(chosen)


def _instance_key(key: str) -> bool:
    return any(c.isdigit() or c in ". -/" for c in key)


def _keyed_records(value: dict) -> bool:
    """A mapping from instance names to records: every value is an object with the same
    (at least two) keys, like a directory's {name: {"type": .., "contents": ..}}."""
    first = next(iter(value.values()), None)
    if not isinstance(first, dict) or len(first) < 2:
        return False
    keys = first.keys()
    return all(isinstance(v, dict) and v.keys() == keys for v in value.values())


def locate_json(value: Any, prefix: str, out: dict[str, str], path: str = "") -> None:
    """Add `prefix + path` locators for every leaf (and instance-like key) of `value`."""
    if isinstance(value, dict):
        records = _keyed_records(value)
        for rank, (k, v) in enumerate(value.items()):
            if records or _instance_key(str(k)):
                step = f"{path}.#{rank}"
                out.setdefault(f"k:{step}", str(k))
            else:
                step = f"{path}.{k}"
            locate_json(v, prefix, out, step)
    elif isinstance(value, list):
        for rank, v in enumerate(value[:MAX_RANK]):
            locate_json(v, prefix, out, f"{path}.#{rank}")
    else:
        out.setdefault(f"{prefix}{path}", value_key(value))


def parse_json_text(text: str) -> Any:
    """The JSON value of `text` if it is a JSON object/array (one nested level of JSON-in-a-string
    is unpacked, as in ToolBench's {"response": "<json>"}), else None."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict):
        for k, v in list(value.items()):
            if isinstance(v, str) and v.strip()[:1] in ("[", "{"):
                inner = parse_json_text(v)
                if inner is not None:
                    value[k] = inner
    return value


@functools.lru_cache(maxsize=4096)
def locate_text(text: str) -> dict[str, str]:
    """Locators of a user message or tool output: whole text, JSON leaves, typed spans.

    Results are cached by text (mining replays every session several times); the returned
    dict is shared and must not be modified."""
    out: dict[str, str] = {}
    stripped = text.strip()
    if stripped and len(stripped) <= MAX_WHOLE_TEXT:
        out["text"] = stripped
    parsed = parse_json_text(stripped[: MAX_TEXT_CHARS * 5])
    if parsed is not None:
        locate_json(parsed, "j:", out)
    for typ, values in spans(text).items():
        for rank, v in enumerate(values):
            out[f"s:{typ}:{rank}"] = v
    return out


def locate_arguments(arguments: dict[str, Any]) -> dict[str, str]:
    """Locators of an earlier call's arguments: leaves (`a:`) and spans of its strings."""
    out: dict[str, str] = {}
    locate_json(arguments, "a:", out)
    text = " ".join(v for v in _strings(arguments))
    for typ, values in spans(text).items():
        for rank, v in enumerate(values):
            out[f"s:{typ}:{rank}"] = v
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
