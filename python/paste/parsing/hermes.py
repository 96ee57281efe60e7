"""Hermes format, also Qwen2.5's chat template: `<tool_call>{"name": .., "arguments": ..}</tool_call>`.

Algorithm: text is content until a `<`; from there the literal `<tool_call>` is matched one
character at a time and held back while the text can still become that tag (`<b>` is released
at the `b`). After the tag and optional whitespace the body must start with `{`, and
`JsonScanner` consumes the object once, tracking strings, escapes and brackets, so braces and
`</tool_call>` inside strings do not end it. When the object closes it is decoded and checked
(a non-empty "name"; "arguments" or "parameters" as an object, a string holding one, or absent
meaning `{}`) and the call is emitted at once, even if `</tool_call>` never follows.
Whitespace and `</tool_call>` after the object are dropped; anything else there is content.
A tag that is not followed by a complete valid object (invalid JSON, no name, end of output)
stays in the content together with the text after it, and an error is recorded.
"""

from __future__ import annotations

from paste.parsing.calls import calls_from_json
from paste.parsing.json_scan import JsonScanner
from paste.parsing.spec import After, ClosingMarker, FormatSpec, MarkerOpener, Opener
from paste.parsing.types import ToolCall

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"


def _new_opener(trigger: str) -> Opener:
    return MarkerOpener(OPEN_TAG, "{")


def _new_body() -> JsonScanner:
    return JsonScanner(allow_array=False)


def _new_after(opener: Opener) -> After | None:
    return ClosingMarker(CLOSE_TAG)


def _to_calls(body: str) -> list[ToolCall]:
    return calls_from_json(body, require_arguments=False)


HERMES = FormatSpec(
    name="hermes",
    triggers="<",
    new_opener=_new_opener,
    new_body=_new_body,
    new_after=_new_after,
    to_calls=_to_calls,
)
