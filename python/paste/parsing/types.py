"""Plain data objects produced by the tool-call parsers.

A parser turns model output into `ParsedOutput` (content outside calls, the calls, and error
strings for malformed calls) and, while streaming, into a list of events per delta:
`ContentDelta` (text that is final and will never be retracted) and `ToolCallDelta`
(OpenAI-style: `index` counts calls from 0, `name` is set on the first delta of a call,
`arguments` is a fragment; concatenating the fragments of one index gives
`ToolCall.arguments_json` of that call).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from paste.parsing.canonical import canonical_call


@dataclass
class ToolCall:
    """One call the model emitted: a tool name and its arguments (a JSON object).

    Equality compares name and arguments as Python values; use `canonical` (the project-wide
    definition of "the same call") to compare calls across sources or to hash them.
    """

    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        """The arguments as streamed in `ToolCallDelta.arguments` fragments.

        `json.dumps(arguments, ensure_ascii=False)` with the default separators; clients
        concatenate the fragments of a call and `json.loads` the result.
        """
        return json.dumps(self.arguments, ensure_ascii=False)

    @property
    def canonical(self) -> str:
        """`canonical_call(name, arguments)`."""
        return canonical_call(self.name, self.arguments)


@dataclass
class ParsedOutput:
    """Result of parsing one whole model output.

    `content` is the text outside calls, in order (malformed calls stay in it verbatim);
    `calls` are the well-formed calls in order; `errors` has one message per malformed call.
    """

    content: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ContentDelta:
    """Text outside tool calls. Once emitted it is final: the parser never takes it back."""

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of tool call number `index` (0, 1, 2, ... in order of appearance).

    `name` is set on the first delta of a call and None on later ones; `arguments` is a
    fragment of `ToolCall.arguments_json`. This version emits one delta per call, at the moment
    the call's text is complete and valid (so a call is never announced and then withdrawn);
    consumers should still concatenate fragments per index.
    """

    index: int
    name: str | None
    arguments: str


Event = ContentDelta | ToolCallDelta
