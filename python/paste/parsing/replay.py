"""Replaying a text through a parser in chosen pieces, and checking the event-stream contract.

The contract every consumer of `StreamingToolCallParser` may rely on, checked by
`stream_problems` (used by the tests and the benchmark; the HTTP server can use it too):
  1. the ContentDelta texts, concatenated, equal `final.content` (content is never retracted)
     and no ContentDelta is empty;
  2. tool-call indexes first appear in the order 0, 1, 2, ... and there is one per final call;
  3. the first delta of an index carries the call's name and later ones carry None;
  4. the argument fragments of an index, concatenated, equal `final.calls[i].arguments_json`.
"""

from __future__ import annotations

from collections.abc import Iterable

from paste.parsing.stream import StreamingToolCallParser
from paste.parsing.types import ContentDelta, Event, ParsedOutput, ToolCallDelta


def replay(pieces: Iterable[str], format: str) -> tuple[list[Event], ParsedOutput]:
    """Feed `pieces` in order, close, and return (all events, final output)."""
    parser = StreamingToolCallParser(format=format)
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.close()
    return events, parser.finish()


def stream_problems(events: list[Event], final: ParsedOutput) -> list[str]:
    """Every violation of the contract above, as messages; an empty list means none."""
    problems: list[str] = []
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    if content != final.content:
        problems.append(f"content deltas {content!r} != final content {final.content!r}")
    if any(isinstance(e, ContentDelta) and not e.text for e in events):
        problems.append("empty ContentDelta")
    names: dict[int, str] = {}
    fragments: dict[int, list[str]] = {}
    for event in events:
        if not isinstance(event, ToolCallDelta):
            continue
        if event.index not in names:
            if event.index != len(names):
                problems.append(f"call index {event.index} appeared after {len(names)} calls")
            if event.name is None:
                problems.append(f"first delta of call {event.index} has no name")
            names[event.index] = event.name or ""
            fragments[event.index] = []
        elif event.name is not None:
            problems.append(f"call {event.index} named twice")
        fragments[event.index].append(event.arguments)
    if len(names) != len(final.calls):
        problems.append(f"{len(names)} calls streamed, {len(final.calls)} in the final output")
    for index, call in enumerate(final.calls[: len(names)]):
        if names.get(index) != call.name:
            problems.append(f"call {index} streamed as {names.get(index)!r}, final {call.name!r}")
        joined = "".join(fragments.get(index, []))
        if joined != call.arguments_json:
            problems.append(f"call {index} fragments {joined!r} != {call.arguments_json!r}")
    return problems
