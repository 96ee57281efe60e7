"""Responses' `truncation: "auto"`: a conversation longer than the model's context is cut from
its beginning, a message at a time, until its prompt fits.

Dropped oldest first: the first message after the instructions' system message, with the tool
messages right after it (the answers to an assistant message's calls go with it, so no tool
answer is left without its call). The instructions and the last message are never dropped:
if the prompt still does not fit, the turn fails as under "disabled" (a 400 naming the
input). A prompt fits when it leaves room for one output token (prompt tokens, and those of
a forced call opening, below the engine's max_model_len). The turn's messages are replaced,
not changed in place, so what a stored response or conversation keeps is the whole history.
"""

from __future__ import annotations

from typing import Any

from paste.server.generation import context_limit
from paste.server.prompt import forced_call_prefix, render_prompt
from paste.server.turn import TurnRequest

TRUNCATION_MODES = ("disabled", "auto")


def fit_to_context(engine: Any, turn: TurnRequest, parser_format: str) -> int:
    """Drops the oldest messages of `turn` until its prompt fits the engine's context (see
    the module docstring); the number of messages dropped. The fewest droppable units that
    make it fit are found by bisection (a prompt only shortens as more are dropped), so a
    long conversation is rendered O(log n) times, not once per message."""
    limit = context_limit(engine)
    if limit is None:
        return 0
    forced = forced_call_prefix(turn, parser_format) if turn.parses_tools else ""
    room = limit - (len(engine.encode(forced)) if forced else 0)
    messages = turn.messages
    head = 1 if messages and messages[0]["role"] == "system" else 0
    starts = _unit_starts(messages, head)  # starts[k]: the first message kept after k units

    def fits(k: int) -> bool:
        turn.messages = messages[:head] + messages[starts[k]:]
        return len(render_prompt(engine, turn, parser_format)) < room

    low, high = 0, len(starts) - 1  # fits(high) may still be false: then drop them all
    if not fits(low):
        while low + 1 < high:
            mid = (low + high) // 2
            if fits(mid):
                high = mid
            else:
                low = mid
        low = high
    turn.messages = messages[:head] + messages[starts[low]:]
    return starts[low] - head


def _unit_starts(messages: list[dict[str, Any]], head: int) -> list[int]:
    """Where the kept messages start after dropping 0, 1, 2, ... units: a unit is a message
    with the tool messages right after it; the last message always stays."""
    starts = [head]
    while starts[-1] < len(messages) - 1:
        n = 1
        while starts[-1] + n < len(messages) - 1 and messages[starts[-1] + n]["role"] == "tool":
            n += 1
        starts.append(starts[-1] + n)
    return starts
