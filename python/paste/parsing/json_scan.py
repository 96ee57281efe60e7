"""Incremental JSON scanner: finds where a JSON object (or array) ends, one delta at a time.

Why it exists: a streaming parser must decide after every few characters whether a call's
JSON is complete, incomplete, or not JSON at all. Re-running `json.loads` on the growing prefix
costs O(n^2) over a long call. `JsonScanner` is a pushdown automaton over the JSON grammar: it
keeps the container stack, whether it is inside a string or an escape, and a partial number or
literal, and consumes every character exactly once (runs of string characters and whitespace
are skipped with one regex match), so total work is linear in the text length. It validates
the full grammar that `json.loads(text, strict=False)` accepts, except NaN and Infinity, which
are not JSON; a parser therefore learns at the first offending character that a candidate is
not JSON and can release the text it was holding back.

    status MORE    -> every character so far can still be the start of a valid value
    status DONE    -> the value ended; `feed` returned the index just after its last character
    status FAILED  -> `feed` returned the index of the first character that cannot follow
"""

from __future__ import annotations

import re

MORE, DONE, FAILED = 0, 1, 2

# Deeper nesting is rejected so that json.loads and canonical_call never hit Python's
# recursion limit on model output.
MAX_DEPTH = 128

(
    _START,
    _VALUE,
    _VALUE_OR_CLOSE,
    _KEY,
    _KEY_OR_CLOSE,
    _COLON,
    _AFTER,
    _STRING,
    _ESCAPE,
    _UNICODE,
    _NUMBER,
    _LITERAL,
) = range(12)

_WS = frozenset(" \t\n\r")
_WS_RUN = re.compile(r"[ \t\n\r]+")
_STRING_RUN = re.compile(r'[^"\\]+')
_NUMBER_RUN = re.compile(r"[0-9eE.+\-]+")
_NUMBER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = frozenset('"\\/bfnrt')
_LITERALS = {"t": "true", "f": "false", "n": "null"}
_SKIPS_WS = frozenset((_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _COLON, _AFTER))


class JsonScanner:
    """Scans one JSON object (or, if `allow_array`, array) fed as consecutive chunks.

    Call `feed(s, i)` with each new chunk; it consumes `s[i:]` until the value ends or fails
    and returns the index where it stopped. After DONE or FAILED the scanner is spent.
    `call_like` becomes True once an object key has been seen: a parser uses it to decide
    whether a failed candidate deserves an error message or was just prose with a brace.
    """

    __slots__ = (
        "status",
        "reason",
        "call_like",
        "_allow_array",
        "_stack",
        "_state",
        "_in_key",
        "_pending",
        "_count",
    )

    def __init__(self, allow_array: bool = False) -> None:
        self.status = MORE
        self.reason = ""
        self.call_like = False
        self._allow_array = allow_array
        self._stack: list[str] = []
        self._state = _START
        self._in_key = False
        self._pending: list[str] = []  # number characters so far, or the literal being read
        self._count = 0  # hex digits of a \u escape, or characters of a literal matched

    def feed(self, s: str, i: int = 0) -> int:
        """Consume `s[i:]`; return len(s) (MORE) or where the value ended / failed."""
        n = len(s)
        while i < n and self.status == MORE:
            state = self._state
            if state == _STRING:
                m = _STRING_RUN.match(s, i)
                if m is not None:
                    i = m.end()
                    if i == n:
                        break
                if s[i] == '"':
                    self._state = _COLON if self._in_key else _AFTER
                else:
                    self._state = _ESCAPE
                i += 1
            elif state in _SKIPS_WS and s[i] in _WS:
                m = _WS_RUN.match(s, i)
                i = m.end() if m is not None else i + 1
            elif state == _NUMBER:
                i = self._number(s, i)
            else:
                i = self._step(s[i], i)
        return i

    def _fail(self, i: int, reason: str) -> int:
        self.status = FAILED
        self.reason = reason
        return i

    def _number(self, s: str, i: int) -> int:
        m = _NUMBER_RUN.match(s, i)
        if m is not None:
            self._pending.append(m.group())
            if m.end() == len(s):
                return m.end()
            i = m.end()
        text = "".join(self._pending)
        self._pending = []
        if _NUMBER_TEXT.match(text) is None:
            return self._fail(i, f"invalid number {text[:20]!r}")
        self._state = _AFTER
        return i  # the terminator is examined in state _AFTER

    def _open(self, ch: str, i: int) -> int:
        if len(self._stack) >= MAX_DEPTH:
            return self._fail(i, f"nesting deeper than {MAX_DEPTH}")
        self._stack.append(ch)
        self._state = _KEY_OR_CLOSE if ch == "{" else _VALUE_OR_CLOSE
        return i + 1

    def _close(self, i: int) -> int:
        self._stack.pop()
        if not self._stack:
            self.status = DONE
        self._state = _AFTER
        return i + 1

    def _step(self, ch: str, i: int) -> int:
        """One character in a state that is not a string run, whitespace run or number."""
        state = self._state
        if state == _START:
            if ch == "{" or (ch == "[" and self._allow_array):
                return self._open(ch, i)
            return self._fail(i, f"expected a JSON object, got {ch!r}")
        if state in (_VALUE, _VALUE_OR_CLOSE):
            if ch == "{" or ch == "[":
                return self._open(ch, i)
            if ch == '"':
                self._in_key = False
                self._state = _STRING
                return i + 1
            if ch == "-" or "0" <= ch <= "9":
                self._state = _NUMBER
                return i
            if ch in _LITERALS:
                self._pending = [_LITERALS[ch]]
                self._count = 1
                self._state = _LITERAL
                return i + 1
            if ch == "]" and state == _VALUE_OR_CLOSE:
                return self._close(i)
            return self._fail(i, f"expected a JSON value, got {ch!r}")
        if state in (_KEY, _KEY_OR_CLOSE):
            if ch == '"':
                self._in_key = True
                self.call_like = True
                self._state = _STRING
                return i + 1
            if ch == "}" and state == _KEY_OR_CLOSE:
                return self._close(i)
            return self._fail(i, f"expected an object key, got {ch!r}")
        if state == _COLON:
            if ch == ":":
                self._state = _VALUE
                return i + 1
            return self._fail(i, f"expected ':', got {ch!r}")
        if state == _AFTER:
            top = self._stack[-1]
            if ch == ",":
                self._state = _KEY if top == "{" else _VALUE
                return i + 1
            if (ch == "}" and top == "{") or (ch == "]" and top == "["):
                return self._close(i)
            return self._fail(i, f"expected ',' or a closing bracket, got {ch!r}")
        if state == _ESCAPE:
            if ch in _ESCAPES:
                self._state = _STRING
                return i + 1
            if ch == "u":
                self._count = 0
                self._state = _UNICODE
                return i + 1
            return self._fail(i, f"invalid escape '\\{ch}'")
        if state == _UNICODE:
            if ch not in _HEX:
                return self._fail(i, f"invalid \\u escape digit {ch!r}")
            self._count += 1
            if self._count == 4:
                self._state = _STRING
            return i + 1
        # _LITERAL
        word = self._pending[0]
        if ch != word[self._count]:
            return self._fail(i, f"invalid literal, expected {word!r}")
        self._count += 1
        if self._count == len(word):
            self._pending = []
            self._state = _AFTER
        return i + 1
