"""Argument templates: a call's arguments with every value that flows from history replaced by
a numbered hole, everything else kept literal.

Leaves are flattened to (JSON path, spec). Spec forms (JSON-serialisable):
  ["L", value]          literal leaf (a constant)
  ["H", i, type]        whole leaf is hole i; type is str, num or bool (how to convert back),
                        or json: a list of records copied from history (values.is_records;
                        the hole's value is its records_key), one hole whatever its length
  ["T", [parts]]        string leaf: literal str parts and int hole numbers
The template key (canonical JSON of the leaf list) identifies a template; holes are numbered
left to right. `extract` needs the SessionState the call was made in; `fill` inverts it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from paste.patterns.canonical import records_key, value_key
from paste.patterns.state import SessionState
from paste.patterns.values import is_records, span_matches

Path = list[Any]  # dict keys (str) and list indices (int)


def flatten(value: Any, path: Path | None = None,
            whole: Callable[[Any], bool] | None = None) -> list[tuple[Path, Any]]:
    """(path, leaf) pairs of a JSON value; empty containers are leaves, and so is every
    container `whole` accepts."""
    path = path or []
    if whole is not None and whole(value):
        return [(path, value)]
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in flatten(v, path + [k], whole)]
    if isinstance(value, list) and value:
        return [p for i, v in enumerate(value) for p in flatten(v, path + [i], whole)]
    return [(path, value)]


def unflatten(leaves: list[tuple[Path, Any]]) -> dict[str, Any]:
    """Inverse of `flatten` for an arguments object."""
    root: dict[str, Any] = {}
    for path, leaf in leaves:
        if not path:
            continue
        node: Any = root
        for here, nxt in zip(path, path[1:], strict=False):
            if isinstance(node, list):
                while len(node) <= here:
                    node.append(None)
                if node[here] is None:
                    node[here] = [] if isinstance(nxt, int) else {}
                node = node[here]
            else:
                node = node.setdefault(here, [] if isinstance(nxt, int) else {})
        last = path[-1]
        if isinstance(node, list):
            while len(node) <= last:
                node.append(None)
            node[last] = leaf
        else:
            node[last] = leaf
    return root


def _leaf_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "num" if isinstance(value, (int, float)) else "str"


def extract(arguments: dict[str, Any], state: SessionState) -> tuple[str, list[str]]:
    """(template key, true value key of each hole) for `arguments` called in `state`."""
    leaves: list[list[Any]] = []
    holes: list[str] = []

    def copied(value: Any) -> bool:
        return is_records(value) and state.known(records_key(value))

    for path, value in flatten(arguments, whole=copied):
        if isinstance(value, list) and value:  # only a copied list stays whole (flatten)
            leaves.append([path, ["H", len(holes), "json"]])
            holes.append(records_key(value))
            continue
        if isinstance(value, (dict, list)) or value is None:
            leaves.append([path, ["L", value]])
            continue
        key = value_key(value)
        if state.known(key):
            leaves.append([path, ["H", len(holes), _leaf_type(value)]])
            holes.append(key)
            continue
        if not isinstance(value, str):
            leaves.append([path, ["L", value]])
            continue
        parts: list[Any] = []
        pos = 0
        for start, end, _typ in span_matches(value):
            piece = value[start:end]
            if not state.known(piece):
                continue
            if start > pos:
                parts.append(value[pos:start])
            parts.append(len(holes))
            holes.append(piece)
            pos = end
        if not any(isinstance(p, int) for p in parts):
            leaves.append([path, ["L", value]])
            continue
        if pos < len(value):
            parts.append(value[pos:])
        leaves.append([path, ["T", parts]])
    return json.dumps(leaves, sort_keys=True, separators=(",", ":")), holes


FLAG_LITERALS = (True, False, None)


def schema_only(template_key: str) -> bool:
    """True when a template carries no value learned from training calls: every leaf is a
    top-level parameter (the tool's own schema names it) that is a whole hole, a flag
    (true/false/null) or an empty container, or the template is the empty argument object.
    Such a template may be emitted for any session, however few sessions used it."""
    for path, spec in json.loads(template_key):
        if len(path) > 1:
            return False
        if spec[0] == "H":
            continue
        if spec[0] != "L":
            return False
        value = spec[1]
        if isinstance(value, (dict, list)):
            if value:
                return False
        elif not any(value is flag for flag in FLAG_LITERALS):
            return False
    return True


def hole_paths(template_key: str) -> list[Path]:
    """The argument path of each hole of a template, by hole number."""
    paths: list[Path] = []
    for path, spec in json.loads(template_key):
        if spec[0] == "H":
            paths.append(path)
        elif spec[0] == "T":
            paths.extend(path for p in spec[1] if isinstance(p, int))
    return paths


@functools.lru_cache(maxsize=4096)
def hole_locators(template_key: str) -> tuple[str | None, ...]:
    """Per hole: the locator (values.locate_arguments) of the argument leaf the hole fills
    whole (a str, num or bool hole), None for a hole inside a string or a hole of records."""
    out: list[str | None] = []
    for path, spec in json.loads(template_key):
        if spec[0] == "H":
            steps = "".join(f".#{p}" if isinstance(p, int) else f".{p}" for p in path)
            out.append(None if spec[2] == "json" else f"a:{steps}")
        elif spec[0] == "T":
            out.extend(None for p in spec[1] if isinstance(p, int))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def hole_types(template_key: str) -> tuple[str | None, ...]:
    """Per hole: the JSON type a value must have to fill it ("num" or "bool": a leaf the
    training call held as a number or a boolean), None for a hole any text may fill (a
    string leaf, a hole inside a string, a hole of records)."""
    out: list[str | None] = []
    for _path, spec in json.loads(template_key):
        if spec[0] == "H":
            out.append(spec[2] if spec[2] in ("num", "bool") else None)
        elif spec[0] == "T":
            out.extend(None for p in spec[1] if isinstance(p, int))
    return tuple(out)


def fits_type(value_key: str, typ: str | None) -> bool:
    """True if a hole of type `typ` (hole_types) can take this value key: a num hole takes
    a JSON number (a price of 150, never the "AAPL" found beside it), a bool hole true or
    false; fill would otherwise write the text as a string the tool's schema rejects."""
    if typ is None:
        return True
    if typ == "bool":
        return value_key in ("true", "false")
    try:
        value = json.loads(value_key)
    except ValueError:
        return False
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def num_holes(template_key: str) -> int:
    """Number of holes of a template."""
    n = 0
    for _path, spec in json.loads(template_key):
        if spec[0] == "H":
            n += 1
        elif spec[0] == "T":
            n += sum(1 for p in spec[1] if isinstance(p, int))
    return n


def _convert(key: str, typ: str) -> Any:
    if typ == "str":
        return key
    if typ == "json":
        return json.loads(key)
    try:
        value = json.loads(key)
    except json.JSONDecodeError:
        return key
    return value if typ != "bool" or isinstance(value, bool) else key


def fill(template: list[Any], values: list[str]) -> dict[str, Any]:
    """Arguments of a parsed template (json.loads of its key) with hole i set to values[i]."""
    leaves: list[tuple[Path, Any]] = []
    for path, spec in template:
        if spec[0] == "L":
            leaves.append((path, spec[1]))
        elif spec[0] == "H":
            leaves.append((path, _convert(values[spec[1]], spec[2])))
        else:
            leaves.append((path, "".join(values[p] if isinstance(p, int) else p for p in spec[1])))
    return unflatten(leaves)
