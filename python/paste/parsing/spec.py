"""What a tool-call format plugs into the streaming machine (`stream.StreamingToolCallParser`).

Model output alternates between text and calls. A format says (1) which characters may start
a call (`triggers`), (2) how the text right before a call's body is recognised (an `Opener`,
e.g. `<tool_call>` plus whitespace), (3) how the body is scanned (a `BodyScanner`: JSON or
pythonic), (4) how a complete body becomes calls (`to_calls`) and (5) what may follow a call
and is syntax, not content (an `After` matcher, e.g. whitespace plus `</tool_call>`).

Openers and After matchers see one character at a time and answer with a verdict:
HOLD (consumed, kept back), REJECT (not consumed: what was held is not syntax),
BODY (not consumed: a body starts at this character), DROP (consumed: held text and this
character are syntax and are dropped).

Contract for a new format: an opener answers HOLD or BODY to its own trigger character, and
when it rejects, no marker could have started inside the text it held after the first
character (`<tool_call>` holds a single `<`; a backtick run shorter by one is no better fence).
After a REJECT the machine re-reads only the rejected character as text, so no marker is missed
and every character is read O(1) times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from paste.parsing.types import ToolCall

HOLD, REJECT, BODY, DROP = range(4)
WHITESPACE = frozenset(" \t\n\r")


class Opener(Protocol):
    committed: bool  # True once the held text is unmistakably a call marker

    def step(self, ch: str) -> int: ...


class After(Protocol):
    def step(self, ch: str) -> int: ...


class BodyScanner(Protocol):
    status: int  # json_scan.MORE / DONE / FAILED
    reason: str
    call_like: bool

    def feed(self, s: str, i: int = 0) -> int: ...


@dataclass(frozen=True)
class FormatSpec:
    """One tool-call format. `to_calls` raises calls.CallShapeError for a non-call body."""

    name: str
    triggers: str
    new_opener: Callable[[str], Opener]  # called with the trigger character
    new_body: Callable[[], BodyScanner]
    new_after: Callable[[Opener], After | None]
    to_calls: Callable[[str], list[ToolCall]]


class BareOpener:
    """The trigger character itself starts the body (`{` of a bare JSON object)."""

    committed = False

    def step(self, ch: str) -> int:
        return BODY


class MarkerOpener:
    """A literal marker, optional whitespace, then a body starting with one of `body_starts`.

    Seeing the whole marker commits: from then on a failure is reported as an error.
    """

    def __init__(self, marker: str, body_starts: str) -> None:
        self.committed = False
        self._marker = marker
        self._body_starts = body_starts
        self._matched = 0

    def step(self, ch: str) -> int:
        if self._matched < len(self._marker):
            if ch != self._marker[self._matched]:
                return REJECT
            self._matched += 1
            self.committed = self._matched == len(self._marker)
            return HOLD
        if ch in WHITESPACE:
            return HOLD
        return BODY if ch in self._body_starts else REJECT


class ClosingMarker:
    """Optional whitespace then a literal closer (`</tool_call>`, a fence, `;`), dropped.

    A character of `reopen` right after the whitespace starts another body (several calls in
    one fenced block).
    """

    def __init__(self, closer: str, reopen: str = "") -> None:
        self._closer = closer
        self._reopen = reopen
        self._matched = 0

    def step(self, ch: str) -> int:
        if self._matched == 0:
            if ch in WHITESPACE:
                return HOLD
            if ch in self._reopen:
                return BODY
        if ch != self._closer[self._matched]:
            return REJECT
        self._matched += 1
        return DROP if self._matched == len(self._closer) else HOLD
