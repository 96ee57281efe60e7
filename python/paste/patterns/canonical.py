"""Value keys for matching argument values across sources, and the canonical call form.

The canonical call form has ONE definition, paste.parsing.canonical_call (re-exported here as
`_canonical_call` for the pattern modules); `value_key` normalises scalar values the same way.
"""

from __future__ import annotations

import json
import math
from typing import Any

from paste.parsing.canonical import canonical_call as _canonical_call

__all__ = ["_canonical_call", "records_key", "value_key"]


def _normalise(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return str(value)


def records_key(items: list[dict[str, Any]]) -> str:
    """Text key of a list of records (a list hole's value, see templates.py): canonical JSON,
    keys sorted and numbers normalised, so an output's list projected onto the fields a call
    takes and the call's own list share the key."""
    return json.dumps(_normalise(items), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


def value_key(value: Any) -> str:
    """Text key of a scalar argument value used to match values across sources.

    Numbers are normalised like in `_canonical_call`, so the output text "5" and the argument
    5 (or 5.0) share the key "5"; booleans and null keep their JSON spelling.
    """
    if isinstance(value, str):
        return value
    return json.dumps(_normalise(value), ensure_ascii=False)
