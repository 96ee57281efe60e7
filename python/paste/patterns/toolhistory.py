"""ToolHistory: the sessions a store's next-tool model (toolmodel.py) is fitted on, kept so
that online updates refit it, and choose its weight again as the sessions grow.

`mine` fits the ToolModel once and chooses its weight by cross-validation; a store that then
learns online from completed sessions (PatternStore.update) would otherwise keep a model that
never saw them (a tool first called online has no say in it), and a store that learns only
online (a server's new tenant) would never get one. The history keeps each session's call
events in a compact form:

  refit      once the history has grown by REFIT_GROWTH of the sessions the model was last
             fitted on (at least one), at the current weight;
  re-choose  the weight (cfselect.select_tool_mix, under the store's control-flow
             configuration) once the history holds MIN_SELECT sessions and then each time it
             has doubled since the weight was last chosen; a weight of 0 drops the model.

Both schedules are geometric, so n sessions cost O(n) fits of the current size in total.

Compact session (JSON): {"tokens": the session's whole control-flow context, "messages": the
distinct user-message word lists, "calls": [[context length before the call, next token,
message index or -1], ...], "end": the message index at its end, "tools": the tools it
offered (sorted) or null}. Every call's context is a prefix of the whole context, and a
session's calls share their messages (a long task statement is kept once). Tool
descriptions are not kept: a weight chosen online is chosen without them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from paste.patterns.cfselect import Config, Offered, select_tool_mix
from paste.patterns.controlflow import END
from paste.patterns.toolmodel import Event, ToolModel

REFIT_GROWTH = 0.1  # refit once the history grew by this share of the sessions last fitted
MIN_SELECT = 8  # sessions before the weight is first chosen online (four folds of two)


class ToolFit(NamedTuple):
    """What `ToolHistory.refresh` computed, for PatternStore.set_tool_model."""

    mix: float  # the weight (0: no model)
    model: ToolModel | None
    fitted: int  # sessions it was fitted on
    selected: int  # sessions when the weight was last chosen


class _Parts(NamedTuple):
    tokens: list[str]
    messages: list[frozenset[str]]


def compact(events: list[Event], tools: Iterable[str] | None = None) -> dict[str, Any]:
    """The compact form of one session's events (cfselect.session_events, ending with its
    `<end>` event) and the tools it offered."""
    tokens = list(events[-1][0]) if events else ["<s>"]
    messages: dict[frozenset[str], int] = {}
    calls = []
    end = -1
    for ctx, tok, words in events:
        if tokens[:len(ctx)] != ctx:
            raise ValueError("a call's context is not a prefix of the session's context")
        m = messages.setdefault(words, len(messages)) if words else -1
        if tok == END:
            end = m
        else:
            calls.append([len(ctx), tok, m])
    return {"tokens": tokens, "messages": [sorted(w) for w in messages], "calls": calls,
            "end": end, "tools": sorted(tools) if tools is not None else None}


def _parts(session: dict[str, Any]) -> _Parts:
    return _Parts([str(t) for t in session["tokens"]],
                  [frozenset(str(w) for w in words) for words in session["messages"]])


def _message(parts: _Parts, m: Any) -> frozenset[str]:
    if not -1 <= int(m) < len(parts.messages):
        raise ValueError(f"message {m} outside its session")
    return parts.messages[int(m)] if int(m) >= 0 else frozenset()


def expand(session: dict[str, Any], with_end: bool = False) -> list[Event]:
    """The call events of a compact session (`compact`'s inverse), and its `<end>` event
    last with `with_end`."""
    parts = _parts(session)
    events: list[Event] = []
    for length, tok, m in session["calls"]:
        if not 0 < int(length) <= len(parts.tokens):
            raise ValueError(f"call event {[length, tok, m]} outside its session")
        events.append((parts.tokens[:int(length)], str(tok), _message(parts, m)))
    if with_end:
        events.append((parts.tokens, END, _message(parts, session.get("end", -1))))
    return events


def offered(session: dict[str, Any]) -> Offered:
    """The tools a compact session offered (None: not recorded)."""
    tools = session.get("tools")
    return frozenset(str(t) for t in tools) if tools is not None else None


class ToolHistory:
    """Compact sessions, how many of them the current model was fitted on and how many
    there were when its weight was last chosen."""

    def __init__(self, sessions: Iterable[dict[str, Any]] = (), fitted: int = 0,
                 selected: int = 0) -> None:
        self.sessions = list(sessions)
        self.fitted = fitted
        self.selected = selected

    @classmethod
    def of(cls, sessions: Iterable[list[Event]],
           tools: Iterable[Offered] | None = None) -> ToolHistory:
        """The history of sessions whose model was just fitted and weight just chosen."""
        listed = list(sessions)
        offers = list(tools) if tools is not None else [None] * len(listed)
        history = cls(compact(events, t) for events, t in zip(listed, offers, strict=True))
        history.fitted = history.selected = len(history.sessions)
        return history

    def add(self, events: list[Event], tools: Iterable[str] | None = None) -> None:
        self.sessions.append(compact(events, tools))

    def due(self) -> bool:
        """True when the sessions added since the last fit call for a refit."""
        return len(self.sessions) - self.fitted >= max(1.0, REFIT_GROWTH * self.fitted)

    def select_due(self) -> bool:
        """True when the weight is to be chosen again."""
        return len(self.sessions) >= max(MIN_SELECT, 2 * self.selected)

    def refresh_due(self, mix: float) -> bool:
        """True when `refresh` would change anything for a store mixing at `mix`."""
        return self.select_due() or (mix > 0.0 and self.due())

    def refresh(self, config: Config, unknown_rate: float, mix: float) -> ToolFit:
        """The weight (chosen again when due, else `mix`) and the model fitted on every
        session kept at that weight (None at weight 0); `config` and `unknown_rate` are the
        store's control-flow configuration and unknown-tool rate."""
        sessions = list(self.sessions)
        selected = self.selected
        if self.select_due():
            mix = select_tool_mix([expand(s, with_end=True) for s in sessions], config,
                                  [offered(s) for s in sessions], unknown_rate)
            selected = len(sessions)
        model = ToolModel.fit(expand(s) for s in sessions) if mix > 0.0 else None
        return ToolFit(mix if model is not None else 0.0, model, len(sessions), selected)

    def to_json(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "fitted": self.fitted, "selected": self.selected}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToolHistory:
        history = cls(data["sessions"], int(data["fitted"]),
                      int(data.get("selected", data["fitted"])))
        for n in (history.fitted, history.selected):
            if not 0 <= n <= len(history.sessions):
                raise ValueError(f"fitted on {n} of {len(history.sessions)} sessions")
        for session in history.sessions:
            expand(session, with_end=True)  # a malformed session fails at load, not later
            offered(session)
        return history
