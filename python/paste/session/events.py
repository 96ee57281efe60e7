"""What `Session.stream` yields while a run goes model -> tools -> model -> final answer.

Order within one model turn: ReasoningDelta* (a reasoning model's thinking, when the session
has reasoning tags), TokenDelta* (text outside tool calls, final, never retracted), then for
each call in call order ToolCallEvent ... and, once the turn's calls are done,
ToolResultEvent in call order (a malformed call has a ToolResultEvent only, with
error_kind "malformed_call"). TurnRestarted voids the ReasoningDeltas and TokenDeltas of a turn
lost to an engine restart before it ran again. A run always ends with exactly one Final.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["completed", "max_turns", "error"]


@dataclass(frozen=True)
class TokenDelta:
    """Model text outside tool calls, in generation order."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """The model's thinking (`<think>...</think>`, parsing/reasoning.py), in generation order:
    not part of the answer, never parsed for tool calls."""

    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    """The model emitted a complete call; it has been dispatched to the tool executor."""

    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResultEvent:
    """A call's result as committed to the transcript (`content` is what the model sees).

    error_kind is None on success, a paste.tools ErrorKind, or "malformed_call" when the
    model's call text could not be parsed.
    """

    call_id: str
    ok: bool
    content: str
    error_kind: str | None


@dataclass(frozen=True)
class TurnRestarted:
    """The model turn in progress was lost (its engine process exited and a new one started)
    before it dispatched a call: its TokenDeltas (those since the last ToolResultEvent, or
    since the run began) are void, and the turn runs again from the same transcript."""

    reason: str


@dataclass(frozen=True)
class Final:
    """End of a run: the final answer (status "completed") or a clear stop/error message."""

    text: str
    status: Status


SessionEvent = (TokenDelta | ReasoningDelta | ToolCallEvent | ToolResultEvent | TurnRestarted
                | Final)
