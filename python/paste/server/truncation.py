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
    the module docstring); the number of messages dropped."""
    limit = context_limit(engine)
    if limit is None:
        return 0
    forced = forced_call_prefix(turn, parser_format) if turn.parses_tools else ""
    room = limit - (len(engine.encode(forced)) if forced else 0)
    head = 1 if turn.messages and turn.messages[0]["role"] == "system" else 0
    dropped = 0
    while len(turn.messages) - head > 1 and len(render_prompt(engine, turn, parser_format)) >= room:
        n = 1
        while head + n < len(turn.messages) - 1 and turn.messages[head + n]["role"] == "tool":
            n += 1
        turn.messages = turn.messages[:head] + turn.messages[head + n:]
        dropped += n
    return dropped
