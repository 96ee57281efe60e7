"""Turning a complete JSON candidate into tool calls (shared by hermes, json and llama3_json).

A call object is `{"name": <non-empty str>, "arguments": <object>}`; "parameters" is accepted
instead of "arguments" (Llama 3), arguments given as a string holding a JSON object are decoded
(some templates double-encode them), `null` means no arguments, and other keys are ignored.
Anything else raises `CallShapeError` with a message that the parser records.
"""

from __future__ import annotations

import json
import math
from typing import Any

from paste.parsing.types import ToolCall


class CallShapeError(Exception):
    """Internal: a complete candidate is not a valid call. Never escapes paste.parsing."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def load_json(text: str) -> Any:
    """`json.loads` that rejects NaN/Infinity and overflowing numbers; raises CallShapeError."""
    try:
        return json.loads(
            text, strict=False, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CallShapeError(f"invalid JSON: {exc}") from None


def call_from_object(obj: Any, require_arguments: bool) -> ToolCall:
    """Validate one decoded call object (see the module docstring)."""
    if not isinstance(obj, dict):
        raise CallShapeError(f"expected a JSON object, got {type(obj).__name__}")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise CallShapeError("tool call has no name")
    key = "arguments" if "arguments" in obj else "parameters"
    if key not in obj:
        if require_arguments:
            raise CallShapeError(f"tool call {name!r} has no arguments or parameters")
        return ToolCall(name, {})
    arguments = obj[key]
    if isinstance(arguments, str):
        arguments = load_json(arguments)
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise CallShapeError(f"arguments of {name!r} are not a JSON object")
    return ToolCall(name, arguments)


def calls_from_json(text: str, require_arguments: bool) -> list[ToolCall]:
    """Calls in one complete JSON text: an object, or a non-empty array of call objects."""
    value = load_json(text)
    if isinstance(value, list):
        if not value:
            raise CallShapeError("empty JSON array")
        return [call_from_object(item, require_arguments) for item in value]
    return [call_from_object(value, require_arguments)]
