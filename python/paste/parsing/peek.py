"""The tool name of a call still being decoded: `peek_call_name(format, partial text)`.

A speculator can narrow its prediction to one tool the moment the model has written the call's
name, long before its arguments are complete. `peek_call_name` reads the partial body the
streaming parser holds (StreamingToolCallParser.partial_call) and returns the name of the
body's first call once it is written out in full, else None:

    json formats (hermes, json, llama3_json): the string value of the top-level key "name" of
        the first object (of an array of objects too); keys before it are skipped with their
        values, nested objects and strings included, so a "name" inside the arguments is
        never taken for the tool's.
    pythonic: the identifier before the first "(" of `[f(a=1), ...]`.
    mistral formats: a body after `[TOOL_CALLS]` in the array layout as json; in the args
        layout the name before its `[ARGS]` / `[CALL_ID]` marker (`get_weather[`).

Only a peek: the text may still turn out not to be a call, and the parser alone decides.
Work is linear in the text; callers bound the text they pass.
"""

from __future__ import annotations

import json
import re

from paste.parsing.mistral import MISTRAL_FORMATS, NAME

_PYTHONIC = re.compile(r"\s*\[?\s*([A-Za-z_][\w.]*)\s*\(")
_MISTRAL_ARGS = re.compile(rf"\s*({NAME})\[")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SPACE = " \t\r\n"


def peek_call_name(fmt: str, text: str) -> str | None:
    """The first call's tool name once fully written in `text`, else None (module doc)."""
    if fmt == "pythonic":
        m = _PYTHONIC.match(text)
        return m.group(1) if m else None
    if fmt in MISTRAL_FORMATS:
        m = _MISTRAL_ARGS.match(text)
        if m:
            return m.group(1)
    return _json_name(text)


def _json_name(text: str) -> str | None:
    i, n = 0, len(text)
    while i < n and (text[i] in _SPACE or text[i] == "["):
        i += 1
    if i >= n or text[i] != "{":
        return None
    depth, i = 1, i + 1
    expect_key = True  # at depth 1: the next string is a key
    while i < n:
        ch = text[i]
        if ch == '"':
            m = _STRING.match(text, i)
            if m is None:
                return None  # the string is not complete yet
            i = m.end()
            if depth == 1 and expect_key:
                key = m.group(0)
                while i < n and text[i] in _SPACE:
                    i += 1
                if i >= n:
                    return None
                if text[i] != ":":
                    return None  # not an object key: not a call
                i += 1
                if key != '"name"':
                    expect_key = False
                    continue
                while i < n and text[i] in _SPACE:
                    i += 1
                value = _STRING.match(text, i)
                if value is None:
                    return None  # not written yet, or not a string
                name = json.loads(value.group(0))
                return name or None
            continue
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return None  # the object ended without a name
        elif ch == "," and depth == 1:
            expect_key = True
        i += 1
    return None
