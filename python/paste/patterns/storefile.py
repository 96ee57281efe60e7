"""A PatternStore's file: every count and learned model of the store as one JSON object
(`to_data`), and back (`fill_from_data`). Fields added after the format's first version are
optional on load, so older files load with those parts off (PatternStore.load checks the
version and turns a malformed file into a PatternStoreError naming it).

Version 2 writes each template once. The store's per-template and per-hole tables (KEYED) are
keyed `kind SEP template key [SEP hole [SEP token]]`, and a template key spells out the
template's literals: a coding agent's are its whole shell commands, a kilobyte on average, and
a version-1 file repeated one in each of seven tables per hole (113 of the 125 MB of a store
mined on 106 mini-swe-agent sessions were keys). So the file lists the `kind SEP template key`
prefixes once (`template_keys`) and each table key starts with its prefix's index instead.
Loading expands the keys, one string per key shared by every table (the memory a mined store
has). Version-1 files load as they are.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from paste.patterns.calibration import Calibration
from paste.patterns.controlflow import ControlFlowModel
from paste.patterns.errors import PatternStoreError
from paste.patterns.history import SessionHistory
from paste.patterns.textevidence import TextEvidence
from paste.patterns.toolmodel import ToolModel
from paste.patterns.unknowntools import UnknownTools

if TYPE_CHECKING:  # the store module imports this one
    from paste.patterns.store import PatternStore

FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
SEP = "\x1f"  # the store's key separator (store.SEP)
# the tables keyed by `kind SEP template key`, then the hole and the context token, if any
KEYED = ("template_groups", "hole_rules", "hole_shapes", "hole_lengths", "hole_days",
         "rank_stats", "rule_stats", "record_rules", "record_stats", "rule_evidence")


def to_data(store: PatternStore, version: int = FORMAT_VERSION) -> dict[str, Any]:
    """The JSON object of a store: the KEYED tables' keys packed (module docstring), or, with
    `version` 1, as they are (what an older reader, or a comparison, needs)."""
    if version not in READ_VERSIONS:
        raise ValueError(f"pattern store version {version} is not one of {READ_VERSIONS}")
    data = _tables(store)
    data["version"] = version
    if version == 1:
        return data
    prefixes: dict[str, int] = {}
    for name in KEYED:
        data[name] = {_pack(k, prefixes): v for k, v in data[name].items()}
    data["template_keys"] = list(prefixes)
    return data


def write_json(data: dict[str, Any], out: TextIO) -> None:
    """Writes json.dumps(data) to `out`, a table entry at a time. The C encoder holds the GIL
    for the whole of one call, so encoding a large store at once stalls every other thread of
    the process (a server's engine loop and HTTP handlers) for as long (200 ms for a 13 MB
    store); between entries the interpreter lets them run."""
    encode = json.JSONEncoder().encode  # json.dumps' defaults
    out.write("{")
    for i, (name, value) in enumerate(data.items()):
        out.write(f"{', ' if i else ''}{encode(name)}: ")
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            out.write(encode(value))
            continue
        out.write("{")
        for j, (key, entry) in enumerate(value.items()):
            out.write(f"{', ' if j else ''}{encode(key)}: {encode(entry)}")
        out.write("}")
    out.write("}")


def _pack(key: str, prefixes: dict[str, int]) -> str:
    """`key` with its `kind SEP template key` prefix replaced by the prefix's index."""
    first = key.find(SEP)
    second = key.find(SEP, first + 1) if first >= 0 else -1
    prefix = key if second < 0 else key[:second]
    return f"{prefixes.setdefault(prefix, len(prefixes))}{key[len(prefix):]}"


def unpack_keys(data: dict[str, Any]) -> None:
    """Expands the KEYED tables' keys of a version-2 file's object in place; ValueError or
    IndexError when a key does not start with the index of one of its template_keys."""
    prefixes = data["template_keys"]
    if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
        raise ValueError("template_keys must be a list of strings")
    expanded: dict[str, str] = {}  # one string per key, shared by every table
    for name in KEYED:
        table = data.get(name)
        if table is None:
            continue
        out = {}
        for key, value in table.items():
            full = expanded.get(key)
            if full is None:
                cut = key.find(SEP)
                index = int(key if cut < 0 else key[:cut])
                if index < 0:
                    raise IndexError(f"template key index {index}")
                full = expanded[key] = prefixes[index] + ("" if cut < 0 else key[cut:])
            out[full] = value
        data[name] = out


def _tables(store: PatternStore) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,  # to_data sets the version written
        "tenant": store.tenant,
        "min_groups": store.min_groups,
        "num_sessions": store.num_sessions,
        "cf": store.cf.to_json(),
        "text": store.text.to_json(),
        "text_weight": store.text_weight,
        "name_weight": store.name_weight,
        "doc_weight": store.doc_weight,
        "templates": {k: dict(v) for k, v in store.templates.items()},
        "template_groups": {k: sorted(v) for k, v in store.template_groups.items()},
        "hole_rules": {k: dict(v) for k, v in store.hole_rules.items()},
        "hole_shapes": {k: dict(v) for k, v in store.hole_shapes.items()},
        "hole_lengths": {k: dict(v) for k, v in store.hole_lengths.items()},
        "hole_days": store.hole_days,
        "rank_stats": store.rank_stats,
        "latency": store.latency,
        "rule_stats": store.rule_stats,
        "repeats": store.repeats,
        "novel_repeats": store.novel_repeats,
        "record_rules": {k: dict(v) for k, v in store.record_rules.items()},
        "record_stats": store.record_stats,
        "rule_evidence": store.rule_evidence,
        "calibration": store.calibration.to_json(),
        "calibration_named": store.calibration_named.to_json(),
        "unknown_tools": store.unknown_tools.to_json(),
        "tool_mix": store.tool_mix,
        "tool_model": store.tool_model.to_json() if store.tool_model is not None else None,
        "history": store.history.to_json() if store.history is not None else None,
    }


def fill_from_data(store: PatternStore, data: dict[str, Any], path: Path) -> None:
    """Sets every part of `store` (made with the file's tenant and min_groups) from the JSON
    object of its file `path`; KeyError, TypeError, AttributeError or ValueError when a part
    is missing or mistyped, IndexError for a packed key of no template (unpack_keys),
    PatternStoreError for a bad calibration."""
    if data["version"] >= 2:
        unpack_keys(data)
    store.num_sessions = data["num_sessions"]
    store.cf = ControlFlowModel.from_json(data["cf"])
    store.text = TextEvidence.from_json(data["text"])
    store.text_weight = data["text_weight"]
    store.name_weight = data.get("name_weight", 0.0)  # stores saved before it: off
    store.doc_weight = data.get("doc_weight", 0.0)  # likewise
    store.templates = {k: Counter(v) for k, v in data["templates"].items()}
    store.template_groups = {k: set(v) for k, v in data["template_groups"].items()}
    store.hole_rules = {k: Counter(v) for k, v in data["hole_rules"].items()}
    store.hole_shapes = {k: Counter(v) for k, v in data.get("hole_shapes", {}).items()}
    store.hole_lengths = {k: Counter({int(n): c for n, c in v.items()})
                          for k, v in data.get("hole_lengths", {}).items()}
    store.hole_days = {k: list(v) for k, v in data.get("hole_days", {}).items()}
    store.rank_stats = data["rank_stats"]
    store.latency = data["latency"]
    store.rule_stats = data["rule_stats"]
    store.repeats = {k: list(v) for k, v in data.get("repeats", {}).items()}
    store.novel_repeats = list(data.get("novel_repeats", [0, 0]))  # older stores: none
    store.record_rules = {k: Counter(v) for k, v in data.get("record_rules", {}).items()}
    store.record_stats = data.get("record_stats", {})
    store.rule_evidence = data.get("rule_evidence", {})  # stores saved before: none
    if "unknown_tools" in data:  # older stores: rate 0, no mass for unknown tools
        store.unknown_tools = UnknownTools.from_json(data["unknown_tools"])
    if data.get("tool_model") is not None:  # older stores: none
        store.tool_model = ToolModel.from_json(data["tool_model"])
        store.tool_mix = float(data["tool_mix"])
    history = data.get("history")  # older stores: none (no refits)
    store.history = SessionHistory.from_json(history) if history is not None else None
    try:
        store.calibration = Calibration.from_json(data.get("calibration", []))
        # stores saved before predictions given the tool were calibrated: identity
        store.calibration_named = Calibration.from_json(data.get("calibration_named", []))
    except ValueError as exc:
        raise PatternStoreError(f"{path}: bad calibration ({exc})") from exc
