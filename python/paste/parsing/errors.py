"""Typed errors raised by paste.parsing.

Malformed tool calls in model output are NOT raised: they are recorded in
`ParsedOutput.errors` and their text is kept as content (DESIGN.md invariant 5, nothing lost).
The errors below are raised only when the *caller* misuses the API, so all of them are
`InvalidArgumentError` (a ValueError) subclasses.
"""

from __future__ import annotations

from paste.errors import InvalidArgumentError


class ToolCallParseError(InvalidArgumentError):
    """Base class of every error paste.parsing raises."""


class UnknownFormatError(ToolCallParseError):
    """A tool-call format name that the registry does not know."""


class ParserClosedError(ToolCallParseError):
    """`feed` or `close` was called on a parser whose stream has already ended."""


class NonJsonValueError(ToolCallParseError):
    """`canonical_call` was given a value JSON cannot represent (NaN, a set, a non-str key...)."""
