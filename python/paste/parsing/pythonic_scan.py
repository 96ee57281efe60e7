"""Incremental scanner for a pythonic call list: `[get_weather(city='Paris'), f()]`.

The pythonic counterpart of `json_scan.JsonScanner` (same protocol: `feed(s, i)`, `status`,
`reason`, `call_like`). It checks the outer shape character by character (`[`, a dotted
name, `(`, balanced arguments, `,` or `]`) and, inside the parentheses, tracks a bracket stack
and single/double-quoted strings with backslash escapes, so it finds the closing `]` in one
pass without evaluating anything. Characters that cannot appear in keyword arguments made of
literals (`<`, `;`, `#`, operators other than unary minus...) fail the candidate at once, so
prose such as "[see the docs]" is released after one word. Whether the arguments really are
literals is decided once, on the complete text, by `pythonic.calls_from_python`.
"""

from __future__ import annotations

import re

from paste.parsing.json_scan import DONE, FAILED, MAX_DEPTH, MORE

_START, _ITEM, _NAME, _BEFORE_PAREN, _ARGS, _STRING, _ESCAPE, _AFTER_CALL = range(8)

_WS = frozenset(" \t\n\r")
_NAME_START = re.compile(r"[A-Za-z_]")
_NAME_RUN = re.compile(r"[A-Za-z0-9_.]+")
# Characters allowed between the call's parentheses outside strings, apart from brackets.
_ARGS_RUN = re.compile(r"[A-Za-z0-9_ \t\n\r=,:.+\-]+")
_STRING_RUNS = {"'": re.compile(r"[^'\\]+"), '"': re.compile(r'[^"\\]+')}
_CLOSERS = {")": "(", "]": "[", "}": "{"}


class PythonicScanner:
    """Scans one `[name(k=v, ...), ...]` list fed as consecutive chunks.

    `call_like` becomes True once `[name(` has been seen; before that a failure means the
    bracket was prose, not a malformed call.
    """

    __slots__ = ("status", "reason", "call_like", "_state", "_stack", "_quote", "_after_comma")

    def __init__(self) -> None:
        self.status = MORE
        self.reason = ""
        self.call_like = False
        self._state = _START
        self._stack: list[str] = []  # brackets open inside the current call's parentheses
        self._quote = ""
        self._after_comma = False

    def feed(self, s: str, i: int = 0) -> int:
        """Consume `s[i:]`; return len(s) (MORE) or where the list ended / failed."""
        n = len(s)
        while i < n and self.status == MORE:
            state = self._state
            if state == _STRING:
                m = _STRING_RUNS[self._quote].match(s, i)
                if m is not None:
                    i = m.end()
                    if i == n:
                        break
                self._state = _ARGS if s[i] == self._quote else _ESCAPE
                i += 1
            elif state == _ARGS:
                m = _ARGS_RUN.match(s, i)
                i = m.end() if m is not None else self._args_step(s[i], i)
            elif state == _NAME:
                m = _NAME_RUN.match(s, i)
                i = m.end() if m is not None else self._after_name(s[i], i)
            else:
                i = self._step(s[i], i)
        return i

    def _fail(self, i: int, reason: str) -> int:
        self.status = FAILED
        self.reason = reason
        return i

    def _args_step(self, ch: str, i: int) -> int:
        if ch == "'" or ch == '"':
            self._quote = ch
            self._state = _STRING
            return i + 1
        if ch in "([{":
            if len(self._stack) >= MAX_DEPTH:
                return self._fail(i, f"nesting deeper than {MAX_DEPTH}")
            self._stack.append(ch)
            return i + 1
        if ch in _CLOSERS:
            if _CLOSERS[ch] != self._stack[-1]:
                return self._fail(i, f"mismatched {ch!r}")
            self._stack.pop()
            if not self._stack:
                self._state = _AFTER_CALL
            return i + 1
        return self._fail(i, f"unexpected {ch!r} in call arguments")

    def _after_name(self, ch: str, i: int) -> int:
        if ch in _WS:
            self._state = _BEFORE_PAREN
            return i + 1
        return self._open_call(ch, i)

    def _open_call(self, ch: str, i: int) -> int:
        if ch != "(":
            return self._fail(i, f"expected '(' after a function name, got {ch!r}")
        self.call_like = True
        self._stack = ["("]
        self._state = _ARGS
        return i + 1

    def _step(self, ch: str, i: int) -> int:
        state = self._state
        if state == _START:
            if ch != "[":
                return self._fail(i, f"expected '[', got {ch!r}")
            self._state = _ITEM
            return i + 1
        if state == _ESCAPE:  # any character may follow a backslash
            self._state = _STRING
            return i + 1
        if ch in _WS:  # every remaining state skips whitespace
            return i + 1
        if state == _ITEM:
            if _NAME_START.match(ch):
                self._state = _NAME
                return i  # the name run is consumed in state _NAME
            if ch == "]" and self._after_comma:
                self.status = DONE
                return i + 1
            return self._fail(i, f"expected a function name, got {ch!r}")
        if state == _BEFORE_PAREN:
            return self._open_call(ch, i)
        # _AFTER_CALL
        if ch == ",":
            self._after_comma = True
            self._state = _ITEM
            return i + 1
        if ch == "]":
            self.status = DONE
            return i + 1
        return self._fail(i, f"expected ',' or ']' after a call, got {ch!r}")
