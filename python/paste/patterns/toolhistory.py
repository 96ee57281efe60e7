"""ToolHistory: the sessions a store's next-tool model (toolmodel.py) is fitted on, kept so
that online updates refit it.

`mine` fits the ToolModel once; a store that then learns online from completed sessions
(PatternStore.update) would otherwise keep a model that never saw them: a tool first called
online has no say in the model, and the model's kinds keep the habits of the mined sessions.
The history keeps each session's call events in a compact form, and the model is refitted
once the history has grown by REFIT_GROWTH of the sessions it was last fitted on (at least
one): a geometric schedule, so the refits of n sessions cost O(n) fits of the current size
in total, not one per session.

Compact session (JSON): {"tokens": the session's whole control-flow context, "messages": the
distinct user-message word lists, "calls": [[context length before the call, next token,
message index or -1], ...]}. Every call's context is a prefix of the whole context, and a
session's calls share their messages (a long task statement is kept once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from paste.patterns.controlflow import END
from paste.patterns.toolmodel import Event, ToolModel

REFIT_GROWTH = 0.1  # refit once the history grew by this share of the sessions last fitted


def compact(events: list[Event]) -> dict[str, Any]:
    """The compact form of one session's events (cfselect.session_events); its `<end>`
    event gives the whole context, and is not kept otherwise (it is not a call)."""
    tokens = list(events[-1][0]) if events else ["<s>"]
    messages: dict[frozenset[str], int] = {}
    calls = []
    for ctx, tok, words in events:
        if tok == END:
            continue
        if tokens[:len(ctx)] != ctx:
            raise ValueError("a call's context is not a prefix of the session's context")
        m = messages.setdefault(words, len(messages)) if words else -1
        calls.append([len(ctx), tok, m])
    return {"tokens": tokens, "messages": [sorted(w) for w in messages], "calls": calls}


def expand(session: dict[str, Any]) -> list[Event]:
    """The call events of a compact session (`compact`'s inverse, without `<end>`)."""
    tokens = [str(t) for t in session["tokens"]]
    messages = [frozenset(str(w) for w in words) for words in session["messages"]]
    events: list[Event] = []
    for length, tok, m in session["calls"]:
        if not 0 < int(length) <= len(tokens) or not -1 <= int(m) < len(messages):
            raise ValueError(f"call event {[length, tok, m]} outside its session")
        events.append((tokens[:int(length)], str(tok), messages[int(m)] if m >= 0
                       else frozenset()))
    return events


class ToolHistory:
    """Compact sessions, and how many of them the current model was fitted on."""

    def __init__(self, sessions: Iterable[dict[str, Any]] = (), fitted: int = 0) -> None:
        self.sessions = list(sessions)
        self.fitted = fitted

    @classmethod
    def of(cls, sessions: Iterable[list[Event]]) -> ToolHistory:
        """The history of sessions a model was just fitted on."""
        history = cls(compact(events) for events in sessions)
        history.fitted = len(history.sessions)
        return history

    def add(self, events: list[Event]) -> None:
        self.sessions.append(compact(events))

    def due(self) -> bool:
        """True when the sessions added since the last fit call for a refit."""
        return len(self.sessions) - self.fitted >= max(1.0, REFIT_GROWTH * self.fitted)

    def fit(self) -> tuple[ToolModel | None, int]:
        """(the model of every session kept, how many sessions that is)."""
        sessions = list(self.sessions)
        return ToolModel.fit(expand(s) for s in sessions), len(sessions)

    def to_json(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "fitted": self.fitted}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToolHistory:
        history = cls(data["sessions"], int(data["fitted"]))
        if not 0 <= history.fitted <= len(history.sessions):
            raise ValueError(f"fitted on {history.fitted} of {len(history.sessions)} sessions")
        for session in history.sessions:
            expand(session)  # a malformed session fails at load, not at a later refit
        return history
