"""The canonical form of a tool call: THE definition of "the same call" in paste.

    canonical_call("get_weather", {"unit": "C", "city": "Paris", "days": 2.0})
    == 'get_weather{"city":"Paris","days":2,"unit":"C"}'

The form is the tool name immediately followed by the arguments as JSON with keys sorted at
every level, no whitespace, non-ASCII characters kept as they are, and numbers normalised by
value: a float with an integral value is written as that exact integer (1.0 -> 1, -0.0 -> 0,
1e3 -> 1000), other floats use Python's shortest round-trip repr, ints are unchanged, and
booleans stay `true`/`false` (they are not numbers). Tuples become lists. Two calls are the
same call exactly when their canonical strings are equal; speculation uses this to match an
authoritative call to a staged speculative job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from paste.parsing.errors import NonJsonValueError


def canonical_call(name: str, arguments: Mapping[str, Any] | str) -> str:
    """Return `name` + canonical JSON of `arguments` (see the module docstring).

    `arguments` is a mapping, or a string holding a JSON object (the OpenAI wire form).
    Raises NonJsonValueError if `name` is not a str, if `arguments` is not an object, or if it
    holds something JSON cannot represent (NaN, infinity, a set, bytes, a non-str key).
    """
    if not isinstance(name, str):
        raise NonJsonValueError(f"tool name must be a str, got {type(name).__name__}")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError) as exc:
            raise NonJsonValueError(f"arguments string is not valid JSON: {exc}") from None
    if not isinstance(arguments, Mapping):
        raise NonJsonValueError(f"arguments must be a JSON object, got {type(arguments).__name__}")
    return name + canonical_json(arguments)


def canonical_json(value: Any) -> str:
    """Canonical JSON text of any JSON-representable value (see the module docstring)."""
    try:
        normalised = _normalise(value)
        return json.dumps(
            normalised,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except RecursionError:
        raise NonJsonValueError("value is nested too deeply") from None
    except ValueError as exc:  # e.g. an int beyond Python's int-to-str digit limit
        raise NonJsonValueError(str(exc)) from None


def _normalise(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NonJsonValueError(f"{value!r} is not a JSON number")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NonJsonValueError(f"object key {key!r} is not a str")
            out[key] = _normalise(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_normalise(item) for item in value]
    raise NonJsonValueError(f"{type(value).__name__} is not a JSON value")
