"""Bare JSON format: `{"name": .., "arguments": ..}` objects, arrays of them, or ```json fences.

This is what small instruction models without a tool-call template emit (Qwen2.5-Coder-0.5B
writes a bare object or a fenced block). Algorithm: text is content until `{`, `[` or a
backtick. A bracket starts a candidate at once; three backticks, an optional `json` tag and
whitespace are held back as a possible fence and must be followed by `{` or `[`. The candidate
is consumed once by `JsonScanner` (arrays allowed), which rejects prose at its first non-JSON
character ("{x}" is released at `x`). A complete candidate is decoded: an object with a
non-empty "name" and "arguments" or "parameters" is one call, a non-empty array of such objects
is several (all or nothing). Calls are emitted as soon as the value closes. Inside a fence,
whitespace, further values and the closing fence are syntax; everything else is content. A
candidate that fails after showing an object key (`{"`) records an error; brackets in prose
that never looked like an object ("[1]", "{}") stay content silently.
"""

from __future__ import annotations

from paste.parsing.calls import calls_from_json
from paste.parsing.json_scan import JsonScanner
from paste.parsing.spec import (
    BODY,
    HOLD,
    REJECT,
    WHITESPACE,
    After,
    BareOpener,
    ClosingMarker,
    FormatSpec,
    Opener,
)
from paste.parsing.types import ToolCall

FENCE = "```"
_LANGUAGE = "json"


class FenceOpener:
    """Three or more backticks, an optional "json" tag (any case), whitespace, then `{`/`[`."""

    committed = False

    def __init__(self) -> None:
        self._ticks = 0
        self._tag = 0  # characters of "json" matched
        self._spaced = False  # whitespace seen after the tag

    def step(self, ch: str) -> int:
        if ch == "`" and (self._ticks < len(FENCE) or (self._tag == 0 and not self._spaced)):
            self._ticks += 1  # Markdown fences may use more than three backticks
            return HOLD
        if self._ticks < len(FENCE):
            return REJECT
        tag_ok = self._tag in (0, len(_LANGUAGE))
        if ch in WHITESPACE:
            if not tag_ok:
                return REJECT
            self._spaced = True
            return HOLD
        if ch in "{[":
            return BODY if tag_ok else REJECT
        if not self._spaced and self._tag < len(_LANGUAGE) and ch.lower() == _LANGUAGE[self._tag]:
            self._tag += 1
            return HOLD
        return REJECT


def _new_opener(trigger: str) -> Opener:
    return FenceOpener() if trigger == "`" else BareOpener()


def _new_body() -> JsonScanner:
    return JsonScanner(allow_array=True)


def _new_after(opener: Opener) -> After | None:
    return ClosingMarker(FENCE, reopen="{[") if isinstance(opener, FenceOpener) else None


def _to_calls(body: str) -> list[ToolCall]:
    return calls_from_json(body, require_arguments=True)


JSON_FORMAT = FormatSpec(
    name="json",
    triggers="{[`",
    new_opener=_new_opener,
    new_body=_new_body,
    new_after=_new_after,
    to_calls=_to_calls,
)
