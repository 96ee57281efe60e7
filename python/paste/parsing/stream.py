"""The streaming tool-call parser: one state machine shared by every format.

Algorithm: every character passes through four states, each consuming it at most a constant
number of times, so work is linear in the output length whatever the chunking:

    TEXT --trigger--> OPENER --BODY--> BODY --DONE--> (calls emitted) --> AFTER --> TEXT
      ^                 |REJECT          |FAILED / not a call                  |REJECT/DROP
      +-----------------+----------------+-------------------------------------+

TEXT emits content up to the next trigger character (one regex search). OPENER holds back
characters while the format's marker may still be forming (`<tool_c...`). BODY feeds the
format's incremental scanner (JSON or pythonic) and holds the candidate text as a list of
pieces, joined once when the scanner stops. A complete valid body becomes calls, emitted at
that moment; a failed or invalid one is released as content (plus an error when it looked
like a call). AFTER holds whitespace and a possible closer (`</tool_call>`, a fence, `;`):
dropped if the closer completes, re-read as TEXT otherwise. Content is emitted as soon as it
can no longer be part of a call and is never retracted; a call is announced only once it is
complete, so no call is ever announced and then withdrawn.
"""

from __future__ import annotations

import re

from paste.parsing.calls import CallShapeError
from paste.parsing.errors import ParserClosedError, ToolCallParseError
from paste.parsing.json_scan import DONE, MORE
from paste.parsing.registry import get_format
from paste.parsing.spec import BODY, DROP, HOLD, After, BodyScanner, Opener
from paste.parsing.types import ContentDelta, Event, ParsedOutput, ToolCall, ToolCallDelta

_TEXT, _OPENER, _BODY, _AFTER = range(4)
_EXCERPT = 60
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_tool_calls(text: str, format: str = "hermes") -> ParsedOutput:
    """Parse a whole model output; equal to streaming it through StreamingToolCallParser."""
    parser = StreamingToolCallParser(format=format)
    parser.feed(text)
    return parser.finish()


class StreamingToolCallParser:
    """Incremental parser for one model output in one format (see `get_parser_names()`).

    Lifetime: `feed(delta)` any number of times, then `close()` once (it returns the events
    for text held back until the end), then `finish()` for the ParsedOutput, which equals
    `parse_tool_calls(whole text)` for every way of splitting the text into deltas.
    `finish()` closes the stream if needed (dropping those last events) and may be called
    again. Feeding after the end raises ParserClosedError. Not thread-safe.
    """

    def __init__(self, format: str = "hermes") -> None:
        self._spec = get_format(format)
        self._trigger = re.compile("[" + re.escape(self._spec.triggers) + "]")
        self._state = _TEXT
        self._held: list[str] = []  # text held back: marker, candidate body, or after-call
        self._marker_len = 0  # length of the marker at the start of the held candidate
        self._opener: Opener | None = None
        self._body: BodyScanner | None = None
        self._after: After | None = None
        self._content: list[str] = []
        self._unsent: list[str] = []  # content not yet put in a ContentDelta
        self._events: list[Event] = []
        self._calls: list[ToolCall] = []
        self._errors: list[str] = []
        self._closed = False

    @property
    def format(self) -> str:
        return self._spec.name

    @property
    def calls(self) -> list[ToolCall]:
        """Calls completed so far (a copy)."""
        return list(self._calls)

    @property
    def content(self) -> str:
        """The content (text outside calls) emitted so far."""
        return "".join(self._content)

    def partial_call(self, limit: int = 1024) -> str | None:
        """The text of the call being decoded, from its body's start (after the format's
        marker), at most `limit` characters, while the parser holds a candidate body; None
        otherwise. For peeking (parsing.peek: its tool name before its arguments are
        complete): it may still turn out not to be a call. O(limit)."""
        if self._state != _BODY:
            return None
        end = self._marker_len + limit
        pieces, size = [], 0
        for piece in self._held:
            pieces.append(piece)
            size += len(piece)
            if size >= end:
                break
        return "".join(pieces)[self._marker_len : end]

    def feed(self, delta: str) -> list[Event]:
        """Consume the next piece of output; return the events it made final, in order."""
        if self._closed:
            raise ParserClosedError("feed() after the stream was closed")
        if not isinstance(delta, str):
            raise ToolCallParseError(f"delta must be a str, got {type(delta).__name__}")
        self._process(delta)
        return self._take_events()

    def close(self) -> list[Event]:
        """End the stream: release held-back text, record cut-off calls, return last events."""
        if self._closed:
            raise ParserClosedError("close() called twice")
        self._closed = True
        held = "".join(self._held)
        self._held = []
        if self._state == _AFTER:
            self._emit_content(held)
        elif self._state != _TEXT:
            call_like = self._state == _BODY and self._body is not None and self._body.call_like
            self._release(held, "output ended before the tool call was complete", call_like)
        self._state = _TEXT
        return self._take_events()

    def finish(self) -> ParsedOutput:
        """The result for everything fed; closes the stream if `close()` was not called."""
        if not self._closed:
            self.close()
        return ParsedOutput("".join(self._content), list(self._calls), list(self._errors))

    # ---- the state machine -------------------------------------------------------------

    def _process(self, s: str) -> None:
        i, n = 0, len(s)
        while i < n:
            if self._state == _TEXT:
                m = self._trigger.search(s, i)
                if m is None:
                    self._emit_content(s[i:] if i else s)
                    return
                j = m.start()
                if j > i:
                    self._emit_content(s[i:j])
                self._opener = self._spec.new_opener(s[j])
                self._state = _OPENER
                i = j
            elif self._state == _OPENER:
                i = self._in_opener(s, i)
            elif self._state == _BODY:
                i = self._in_body(s, i)
            else:
                i = self._in_after(s, i)

    def _in_opener(self, s: str, i: int) -> int:
        opener = self._opener
        assert opener is not None  # invariant: set whenever the state is _OPENER
        while i < len(s):
            verdict = opener.step(s[i])
            if verdict == HOLD:
                self._held.append(s[i])
                i += 1
            elif verdict == BODY:
                self._start_body()
                return i
            else:  # REJECT: what was held is not a marker; re-read s[i] as text
                held = "".join(self._held)
                self._held = []
                self._state = _TEXT
                if not held:  # cannot happen for the built-in formats; keeps progress
                    self._emit_content(s[i])
                    return i + 1
                self._release(held, "call marker not followed by a call", False)
                return i
        return i

    def _start_body(self) -> None:
        self._marker_len = sum(map(len, self._held))
        self._body = self._spec.new_body()
        self._state = _BODY

    def _in_body(self, s: str, i: int) -> int:
        body = self._body
        assert body is not None  # invariant: set whenever the state is _BODY
        j = body.feed(s, i)
        if body.status == MORE:
            self._held.append(s[i:] if i else s)
            return len(s)
        self._held.append(s[i:j])
        text = "".join(self._held)
        self._held = []
        self._state = _TEXT
        if body.status == DONE:
            self._complete(text, body.call_like)
        else:  # FAILED at s[j], which is re-read as text
            self._release(text, body.reason, body.call_like)
        return j

    def _complete(self, text: str, call_like: bool) -> None:
        try:
            calls = self._spec.to_calls(text[self._marker_len :])
        except CallShapeError as exc:
            self._release(text, str(exc), call_like)
            return
        fragments = [call.arguments_json for call in calls]
        if any(_SURROGATE.search(c.name + f) for c, f in zip(calls, fragments, strict=True)):
            # JSON allows "\ud800" escapes, but such text cannot be encoded as UTF-8 downstream.
            self._release(text, "unpaired UTF-16 surrogate in tool call", call_like)
            return
        for call, fragment in zip(calls, fragments, strict=True):
            self._emit_call(call, fragment)
        assert self._opener is not None
        self._after = self._spec.new_after(self._opener)
        if self._after is not None:
            self._state = _AFTER

    def _in_after(self, s: str, i: int) -> int:
        after = self._after
        assert after is not None  # invariant: set whenever the state is _AFTER
        while i < len(s):
            verdict = after.step(s[i])
            if verdict == HOLD:
                self._held.append(s[i])
                i += 1
            elif verdict == DROP:
                self._held = []
                self._state = _TEXT
                return i + 1
            elif verdict == BODY:  # another call right after this one (same fence)
                self._held = []
                self._start_body()
                return i
            else:  # REJECT: the held whitespace / partial closer is ordinary text
                held = "".join(self._held)
                self._held = []
                self._state = _TEXT
                self._process(held)
                return i
        return i

    # ---- output ------------------------------------------------------------------------

    def _release(self, text: str, reason: str, call_like: bool) -> None:
        """A candidate that is not a call becomes content; an error is recorded if it
        followed a complete marker (`<tool_call>`) or its body looked like a call."""
        self._emit_content(text)
        if call_like or (self._opener is not None and self._opener.committed):
            excerpt = text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."
            self._errors.append(f"{self._spec.name}: {reason}: {excerpt!r}")

    def _emit_content(self, text: str) -> None:
        if text:
            self._content.append(text)
            self._unsent.append(text)

    def _emit_call(self, call: ToolCall, fragment: str) -> None:
        self._flush_content()
        self._events.append(ToolCallDelta(len(self._calls), call.name, fragment))
        self._calls.append(call)

    def _flush_content(self) -> None:
        if self._unsent:
            self._events.append(ContentDelta("".join(self._unsent)))
            self._unsent = []

    def _take_events(self) -> list[Event]:
        self._flush_content()
        events, self._events = self._events, []
        return events
