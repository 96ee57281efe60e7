"""A PatternStore's file: every count and learned model of the store as one JSON object
(`to_data`), and back (`fill_from_data`). Fields added after the format's first version are
optional on load, so older files load with those parts off (PatternStore.load checks the
version and turns a malformed file into a PatternStoreError naming it).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paste.patterns.calibration import Calibration
from paste.patterns.controlflow import ControlFlowModel
from paste.patterns.errors import PatternStoreError
from paste.patterns.history import SessionHistory
from paste.patterns.textevidence import TextEvidence
from paste.patterns.toolmodel import ToolModel
from paste.patterns.unknowntools import UnknownTools

if TYPE_CHECKING:  # the store module imports this one
    from paste.patterns.store import PatternStore

FORMAT_VERSION = 1


def to_data(store: PatternStore) -> dict[str, Any]:
    """The JSON object of a store."""
    return {
        "version": FORMAT_VERSION,
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
    is missing or mistyped, PatternStoreError for a bad calibration."""
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
