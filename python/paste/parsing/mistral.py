"""Mistral format: calls after the `[TOOL_CALLS]` control token, in either of its two layouts.

    array   `[TOOL_CALLS] [{"name": "f", "arguments": {"q": 1}}, {"name": "g", ...}]`
            Mistral's tokenizers v2 to v7 (Mistral 7B Instruct v0.3, Mixtral 8x22B, Mistral
            Small 3 / 3.1, Mistral Large 2): one JSON array (or object) of call objects.
    args    `[TOOL_CALLS]f[ARGS]{"q": 1}[TOOL_CALLS]g[ARGS]{}`
            tokenizers v11 and later (Mistral Small 3.2, Devstral, Magistral): the name, an
            optional `[CALL_ID]id`, `[ARGS]` and the arguments object, once per call.

The parser reads both whatever the format's name; the two names ("mistral": array,
"mistral_args": args) differ in how paste WRITES a call (call_text.py: a replayed
conversation, a forced call, the grammar of strict tools), which must be what the model writes.
The control tokens reach the parser as text because the engine decodes with special tokens
kept (engine/request.py).

Algorithm: text is content until `[`; `[TOOL_CALLS]` is matched one character at a time and
held back while the text can still become it (`[1]` is released at `1`). After it and optional
whitespace, `MistralBody` scans the body once: a `[` or `{` hands it to `JsonScanner` (arrays
allowed); a name character starts the args layout: the name (letters, digits, `_ - .`), an
optional `[CALL_ID]` and id, `[ARGS]`, optional whitespace, then one JSON object. Calls are
emitted the moment the body closes (all calls of an array at once). A body that fails after
the marker stays content with an error; the next `[TOOL_CALLS]` starts the next call.
"""

from __future__ import annotations

import re
import string

from paste.parsing.calls import CallShapeError, calls_from_json, load_json
from paste.parsing.json_scan import FAILED, MORE, JsonScanner
from paste.parsing.spec import After, FormatSpec, MarkerOpener, Opener
from paste.parsing.types import ToolCall

TOOL_CALLS = "[TOOL_CALLS]"
ARGS = "[ARGS]"
CALL_ID = "[CALL_ID]"
_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_-")
_NAME_CHARS = _ID_CHARS | {"."}
NAME = r"[A-Za-z0-9_.\-]+"  # a tool name in the args layout (_NAME_CHARS), for peek.py too
_WS = frozenset(" \t\n\r")
_ARGS_BODY = re.compile(rf"({NAME})(?:\[CALL_ID\][A-Za-z0-9_\-]*)?\[ARGS\]\s*(.*)\Z",
                        re.DOTALL)
MAX_NAME = 256  # characters of a tool name before the body is given up as prose

_START, _NAME, _MARK, _ID, _BEFORE_ARGS, _JSON = range(6)


class MistralBody:
    """Scans one body after `[TOOL_CALLS]` (module docstring); the BodyScanner protocol of
    json_scan.JsonScanner: `feed(s, i)`, `status`, `reason`, `call_like`."""

    __slots__ = ("status", "reason", "call_like", "_state", "_json", "_mark", "_matched",
                 "_name_len")

    def __init__(self) -> None:
        self.status = MORE
        self.reason = ""
        self.call_like = False
        self._state = _START
        self._json: JsonScanner | None = None
        self._mark = ""  # the marker being matched in _MARK: [ARGS] or [CALL_ID]
        self._matched = 0
        self._name_len = 0

    def feed(self, s: str, i: int = 0) -> int:
        """Consume `s[i:]`; return len(s) (MORE) or where the body ended / failed."""
        n = len(s)
        while i < n and self.status == MORE:
            if self._state == _JSON:
                return self._feed_json(s, i)
            i = self._step(s[i], i)
        return i

    def _feed_json(self, s: str, i: int) -> int:
        scanner = self._json
        assert scanner is not None  # set on entering _JSON
        j = scanner.feed(s, i)
        self.call_like = self.call_like or scanner.call_like
        if scanner.status != MORE:
            self.status, self.reason = scanner.status, scanner.reason
        return j

    def _fail(self, i: int, reason: str) -> int:
        self.status, self.reason = FAILED, reason
        return i

    def _step(self, ch: str, i: int) -> int:
        state = self._state
        if state == _START:
            if ch in "[{":
                self._json = JsonScanner(allow_array=True)
                self._state = _JSON
                return i
            if ch not in _NAME_CHARS:
                return self._fail(i, f"expected a call list or a tool name, got {ch!r}")
            self._state, self._name_len = _NAME, 1
            return i + 1
        if state == _NAME:
            if ch in _NAME_CHARS:
                self._name_len += 1
                if self._name_len > MAX_NAME:
                    return self._fail(i, f"tool name longer than {MAX_NAME} characters")
                return i + 1
            if ch != "[":
                return self._fail(i, f"expected {ARGS} after the tool name, got {ch!r}")
            self._state, self._mark, self._matched = _MARK, "", 1
            return i + 1
        if state == _MARK:
            if not self._mark:  # the second character decides which marker this is
                self._mark = ARGS if ch == ARGS[1] else CALL_ID if ch == CALL_ID[1] else ""
                if not self._mark:
                    return self._fail(i, f"expected {ARGS} after the tool name, got {ch!r}")
            elif ch != self._mark[self._matched]:
                return self._fail(i, f"expected {self._mark}, got {ch!r}")
            self._matched += 1
            if self._matched == len(self._mark):
                self.call_like = True
                self._state = _BEFORE_ARGS if self._mark == ARGS else _ID
            return i + 1
        if state == _ID:
            if ch in _ID_CHARS:
                return i + 1
            if ch != "[":
                return self._fail(i, f"expected {ARGS} after the call id, got {ch!r}")
            self._state, self._mark, self._matched = _MARK, ARGS, 1
            return i + 1
        # _BEFORE_ARGS: optional whitespace, then the arguments object
        if ch in _WS:
            return i + 1
        if ch != "{":
            return self._fail(i, f"expected the arguments object after {ARGS}, got {ch!r}")
        self._json = JsonScanner(allow_array=False)
        self._state = _JSON
        return i


def calls_from_body(body: str) -> list[ToolCall]:
    """The calls of one complete body (either layout); raises CallShapeError otherwise."""
    text = body.lstrip()
    if text[:1] in ("[", "{"):
        return calls_from_json(text, require_arguments=False)
    m = _ARGS_BODY.match(text)
    if m is None:
        raise CallShapeError(f"expected name{ARGS}{{...}}")
    arguments = load_json(m.group(2))
    if not isinstance(arguments, dict):
        raise CallShapeError(f"arguments of {m.group(1)!r} are not a JSON object")
    return [ToolCall(m.group(1), arguments)]


def _new_opener(trigger: str) -> Opener:
    return MarkerOpener(TOOL_CALLS, "[{" + "".join(sorted(_NAME_CHARS)))


def _new_after(opener: Opener) -> After | None:
    return None  # the next call, if any, opens with its own [TOOL_CALLS]


def _spec(name: str) -> FormatSpec:
    return FormatSpec(name=name, triggers="[", new_opener=_new_opener, new_body=MistralBody,
                      new_after=_new_after, to_calls=calls_from_body)


MISTRAL = _spec("mistral")
MISTRAL_ARGS = _spec("mistral_args")
MISTRAL_FORMATS = frozenset({MISTRAL.name, MISTRAL_ARGS.name})
