"""Pythonic format (Llama 3.2 / 4 style): `[get_weather(city='Paris', metric='celsius'), f()]`.

Algorithm: text is content until `[` or `<`. A `<` is held back while it can still become
`<|python_start|>` (Llama 4 wraps call lists in it and `<|python_end|>`; both are dropped
around a valid list). A `[` starts a candidate consumed once by `PythonicScanner`: it checks
the shape `[name(...), ...]`, tracks strings and brackets inside the parentheses, and gives up
on prose at the first character that cannot belong to a call list ("[see docs]" is released
at `d`). When the list closes, the complete text is parsed with `ast.parse` (which builds a
syntax tree and never executes anything) and only this tree shape is accepted: a list of calls
to plain or dotted names with keyword arguments whose values are literals, read with
`ast.literal_eval` and converted to JSON (tuples become lists; sets, bytes, complex numbers,
NaN/infinity and non-str dict keys are rejected). All calls of the list are emitted at once.
A list that failed after `[name(` (bad syntax, positional arguments, non-literal values, end
of output) stays content and records an error. Parsing silences SyntaxWarnings from the
model's strings with `warnings.catch_warnings`, which touches process-wide state: parse from
one thread at a time (the engine loop).
"""

from __future__ import annotations

import ast
import math
import warnings
from typing import Any

from paste.parsing.calls import CallShapeError
from paste.parsing.pythonic_scan import PythonicScanner
from paste.parsing.spec import After, BareOpener, ClosingMarker, FormatSpec, MarkerOpener, Opener
from paste.parsing.types import ToolCall

PYTHON_START = "<|python_start|>"
PYTHON_END = "<|python_end|>"
_AST_ERRORS = (SyntaxError, ValueError, TypeError, RecursionError, MemoryError)


def calls_from_python(source: str) -> list[ToolCall]:
    """Calls in a complete pythonic list; raises CallShapeError for anything else."""
    try:
        with warnings.catch_warnings():  # e.g. "invalid escape sequence" in a model's string
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except _AST_ERRORS as exc:
        raise CallShapeError(f"invalid Python: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(tree.body, ast.List) or not tree.body.elts:
        raise CallShapeError("expected a non-empty list of calls")
    return [_call(node) for node in tree.body.elts]


def _call(node: ast.expr) -> ToolCall:
    if not isinstance(node, ast.Call):
        raise CallShapeError("list item is not a call")
    name = _dotted_name(node.func)
    if node.args:
        raise CallShapeError(f"{name}: positional arguments are not supported")
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise CallShapeError(f"{name}: ** arguments are not supported")
        if keyword.arg in arguments:  # Python rejects this when compiling, not when parsing
            raise CallShapeError(f"{name}: argument {keyword.arg!r} given twice")
        try:
            value = ast.literal_eval(keyword.value)
        except _AST_ERRORS:
            raise CallShapeError(f"{name}: argument {keyword.arg!r} is not a literal") from None
        arguments[keyword.arg] = _to_json(value, name)
    return ToolCall(name, arguments)


def _dotted_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return _dotted_name(node.value) + "." + node.attr
    raise CallShapeError("called object is not a name")


def _to_json(value: Any, name: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CallShapeError(f"{name}: {value!r} is not a JSON number")
        return value
    if isinstance(value, (list, tuple)):
        return [_to_json(item, name) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise CallShapeError(f"{name}: dict keys must be strings")
        return {key: _to_json(item, name) for key, item in value.items()}
    raise CallShapeError(f"{name}: {type(value).__name__} is not a JSON value")


def _new_opener(trigger: str) -> Opener:
    return MarkerOpener(PYTHON_START, "[") if trigger == "<" else BareOpener()


def _new_body() -> PythonicScanner:
    return PythonicScanner()


def _new_after(opener: Opener) -> After | None:
    return ClosingMarker(PYTHON_END) if isinstance(opener, MarkerOpener) else None


PYTHONIC = FormatSpec(
    name="pythonic",
    triggers="[<",
    new_opener=_new_opener,
    new_body=_new_body,
    new_after=_new_after,
    to_calls=calls_from_python,
)
