"""Llama 3.x JSON format: `{"name": .., "parameters": {..}}` objects in prose, `;`-separated.

Algorithm: text is content until `{` or `<`. A `<` is held back while it can still become
`<|python_tag|>` (Llama 3.1's prefix for tool output, dropped when a call follows); after the
tag and optional whitespace a `{` must follow. A `{` starts a candidate that `JsonScanner`
consumes once, rejecting prose at its first non-JSON character. A complete object with a
non-empty "name" and "parameters" (or "arguments") is a call and is emitted at once. Whitespace
followed by `;` after a call is a separator and is dropped; a newline or anything else after a
call is ordinary content, and the next `{` starts the next candidate. A candidate that fails
after showing an object key, or after `<|python_tag|>`, records an error and stays content.
"""

from __future__ import annotations

from paste.parsing.calls import calls_from_json
from paste.parsing.json_scan import JsonScanner
from paste.parsing.spec import After, BareOpener, ClosingMarker, FormatSpec, MarkerOpener, Opener
from paste.parsing.types import ToolCall

PYTHON_TAG = "<|python_tag|>"
SEPARATOR = ";"


def _new_opener(trigger: str) -> Opener:
    return MarkerOpener(PYTHON_TAG, "{") if trigger == "<" else BareOpener()


def _new_body() -> JsonScanner:
    return JsonScanner(allow_array=False)


def _new_after(opener: Opener) -> After | None:
    return ClosingMarker(SEPARATOR)


def _to_calls(body: str) -> list[ToolCall]:
    return calls_from_json(body, require_arguments=True)


LLAMA3_JSON = FormatSpec(
    name="llama3_json",
    triggers="<{",
    new_opener=_new_opener,
    new_body=_new_body,
    new_after=_new_after,
    to_calls=_to_calls,
)
