"""Streaming tool-call parsers: model output text -> content + tool calls.

    from paste.parsing import parse_tool_calls, StreamingToolCallParser, canonical_call
    out = parse_tool_calls(text, format="hermes")   # ParsedOutput(content, calls, errors)
    p = StreamingToolCallParser(format="hermes")
    events = p.feed(delta)                          # [ContentDelta | ToolCallDelta, ...]
    events += p.close()                             # text held back until the end
    final = p.finish()                              # == parse_tool_calls(whole text)

Module map (one concept per file):
    types.py          ToolCall, ParsedOutput, ContentDelta, ToolCallDelta
    canonical.py      canonical_call: the project-wide definition of "the same call"
    json_scan.py      JsonScanner: incremental, linear-time JSON object/array scanner
    pythonic_scan.py  PythonicScanner: the same for `[f(a=1), g()]` call lists
    calls.py          decoded JSON -> ToolCall (name + arguments/parameters)
    spec.py           FormatSpec and the opener / closer matchers formats are built from
    stream.py         StreamingToolCallParser (the state machine) and parse_tool_calls
    replay.py         feed a text in chosen pieces; check the event-stream contract
    hermes.py, json_format.py, llama3.py, mistral.py, pythonic.py   the formats
    registry.py       format names -> FormatSpec
    call_text.py      calls as a format's text; the grammars of calls (tool_choice, strict)
    pythonic_grammar.py  a JSON schema as the EBNF of pythonic keyword arguments
    errors.py         typed errors (all InvalidArgumentError subclasses)
"""

from paste.parsing.canonical import canonical_call, canonical_json
from paste.parsing.errors import (
    NonJsonValueError,
    ParserClosedError,
    ToolCallParseError,
    UnknownFormatError,
)
from paste.parsing.registry import get_parser_names
from paste.parsing.stream import StreamingToolCallParser, parse_tool_calls
from paste.parsing.types import ContentDelta, Event, ParsedOutput, ToolCall, ToolCallDelta

__all__ = [
    "ContentDelta",
    "Event",
    "NonJsonValueError",
    "ParsedOutput",
    "ParserClosedError",
    "StreamingToolCallParser",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallParseError",
    "UnknownFormatError",
    "canonical_call",
    "canonical_json",
    "get_parser_names",
    "parse_tool_calls",
]
