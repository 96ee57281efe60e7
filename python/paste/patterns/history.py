"""SessionHistory: the sessions a store was learned from, kept in a compact form so that
online updates refit its next-tool model (toolmodel.py) and choose its configuration again
as the sessions grow.

`mine` chooses the control-flow configuration (n-gram order, `<u>` tokens, averaging, the
text-evidence weights) and the next-tool model's weight by cross-validation, and fits the
model, once. A store that then learns online from completed sessions (PatternStore.update)
would otherwise keep a model that never saw them (a tool first called online has no say in
it), and a store learned only online (a server's new tenant) would keep the defaults and
never get a model. So, from the sessions kept:

  refit      the model, once the history has grown by REFIT_GROWTH of the sessions it was
             last fitted on (at least one), at the weight in force;
  re-choose  the configuration (cfselect.select_config; the control flow is then recounted
             from the kept sessions) and the weight (cfselect.select_tool_mix), once the
             history holds MIN_SELECT sessions and then each time it has doubled since the
             last choice; a weight of 0 drops the model. The configuration is chosen again
             only when the history holds every session the store learned (a store loaded
             from a file saved before the history keeps what it has).

Both schedules are geometric, so n sessions cost O(n) fits of the current size in total.

Compact session (JSON): {"tokens": the session's whole control-flow context, "messages": the
distinct user-message word lists, "calls": [[context length before the call, next token,
message index or -1], ...], "end": the message index at its end, "tools": the tools it
offered (sorted) or null}. Every call's context is a prefix of the whole context, and a
session's calls share their messages (a long task statement is kept once). Tool
descriptions are kept once per tool for the whole history (`docs`: the first description
seen of each), and each session's are those of the tools it offered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from paste.patterns.cfselect import Config, Docs, Offered, select_config, select_tool_mix
from paste.patterns.controlflow import END, ControlFlowModel
from paste.patterns.toolmodel import Event, ToolModel

REFIT_GROWTH = 0.1  # refit once the history grew by this share of the sessions last fitted
MIN_SELECT = 8  # sessions before the configuration is first chosen online (four folds of 2)


class OnlineFit(NamedTuple):
    """What `SessionHistory.refresh` computed, for PatternStore.set_online."""

    config: Config | None  # the configuration chosen again (None: kept)
    cf: ControlFlowModel | None  # the control flow recounted under it (built)
    mix: float  # the weight (0: no model)
    model: ToolModel | None
    fitted: int  # sessions it was fitted on
    selected: int  # sessions when the configuration and weight were last chosen

    def to_json(self) -> dict[str, Any]:
        return {"config": list(self.config) if self.config is not None else None,
                "cf": self.cf.to_json() if self.cf is not None else None, "mix": self.mix,
                "model": self.model.to_json() if self.model is not None else None,
                "fitted": self.fitted, "selected": self.selected}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OnlineFit:
        """The fit of to_json's output (its control flow built, as refresh gives it)."""
        cf = None
        if data["cf"] is not None:
            cf = ControlFlowModel.from_json(data["cf"])
            cf.build()
        config = tuple(data["config"]) if data["config"] is not None else None
        model = ToolModel.from_json(data["model"]) if data["model"] is not None else None
        return cls(config, cf, data["mix"], model, data["fitted"], data["selected"])


def refresh_json(history: dict[str, Any], config: list[Any], unknown_rate: float, mix: float,
                 complete: bool) -> dict[str, Any]:
    """SessionHistory.refresh from and to JSON: what a child process computes for the server
    (server/fitting.py), importing no more than this module needs."""
    fit = SessionHistory.from_json(history).refresh(tuple(config), unknown_rate, mix, complete)
    return fit.to_json()


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


class SessionHistory:
    """Compact sessions, how many of them the current model was fitted on, how many there
    were when the configuration and weight were last chosen, and the tools' descriptions."""

    def __init__(self, sessions: Iterable[dict[str, Any]] = (), fitted: int = 0,
                 selected: int = 0, docs: dict[str, str] | None = None) -> None:
        self.sessions = list(sessions)
        self.fitted = fitted
        self.selected = selected
        self.docs: dict[str, str] = dict(docs or {})

    @classmethod
    def of(cls, sessions: Iterable[list[Event]], tools: Iterable[Offered] | None = None,
           docs: Iterable[Docs] | None = None) -> SessionHistory:
        """The history of sessions whose configuration was just chosen and model fitted."""
        listed = list(sessions)
        offers = list(tools) if tools is not None else [None] * len(listed)
        described = list(docs) if docs is not None else [None] * len(listed)
        history = cls()
        for events, offer, doc in zip(listed, offers, described, strict=True):
            history.add(events, offer, doc)
        history.fitted = history.selected = len(history.sessions)
        return history

    def add(self, events: list[Event], tools: Iterable[str] | None = None,
            docs: Docs = None) -> None:
        self.sessions.append(compact(events, tools))
        for name, text in (docs or {}).items():
            self.docs.setdefault(name, text)

    def session_docs(self, session: dict[str, Any]) -> Docs:
        """A kept session's tool descriptions (None when it recorded no offered tools)."""
        tools = offered(session)
        return None if tools is None else {t: self.docs[t] for t in tools if t in self.docs}

    def due(self) -> bool:
        """True when the sessions added since the last fit call for a refit."""
        return len(self.sessions) - self.fitted >= max(1.0, REFIT_GROWTH * self.fitted)

    def select_due(self) -> bool:
        """True when the configuration and weight are to be chosen again."""
        return len(self.sessions) >= max(MIN_SELECT, 2 * self.selected)

    def refresh_due(self, mix: float) -> bool:
        """True when `refresh` would change anything for a store mixing at `mix`."""
        return self.select_due() or (mix > 0.0 and self.due())

    def refresh(self, config: Config, unknown_rate: float, mix: float,
                complete: bool) -> OnlineFit:
        """The configuration and weight (chosen again when due, else `config` and `mix`) and
        the model fitted on every session kept at that weight (None at weight 0). `config`
        and `unknown_rate` are the store's; `complete`: the history holds every session the
        store learned, so the control flow may be recounted from it."""
        sessions = list(self.sessions)
        selected, chosen, cf = self.selected, None, None
        events: list[list[Event]] | None = None
        if self.select_due():
            events = [expand(s, with_end=True) for s in sessions]  # ToolModel.fit skips <end>
            tools = [offered(s) for s in sessions]
            docs = [self.session_docs(s) for s in sessions]
            if complete:
                chosen = config = select_config(events, tools, unknown_rate, docs)
                cf = ControlFlowModel(*config[:3])
                for session in events:
                    for ctx, tok, _words in session:
                        cf.observe(ctx, tok)
                cf.build()
            mix = select_tool_mix(events, config, tools, unknown_rate, docs)
            selected = len(sessions)
        if events is None:
            events = [expand(s) for s in sessions]
        model = ToolModel.fit(events) if mix > 0.0 else None
        return OnlineFit(chosen, cf, mix if model is not None else 0.0, model, len(sessions),
                         selected)

    def to_json(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "fitted": self.fitted, "selected": self.selected,
                "docs": self.docs}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionHistory:
        history = cls(data["sessions"], int(data["fitted"]),
                      int(data.get("selected", data["fitted"])), data.get("docs"))
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in history.docs.items()):
            raise ValueError("tool descriptions must be strings")
        for n in (history.fitted, history.selected):
            if not 0 <= n <= len(history.sessions):
                raise ValueError(f"fitted on {n} of {len(history.sessions)} sessions")
        for session in history.sessions:
            expand(session, with_end=True)  # a malformed session fails at load, not later
            offered(session)
        return history
