"""SessionState: what a live session has seen so far, pre-indexed for O(1) rule lookups.

Built incrementally: `add_user(text)` for each user message and `add_step(call, output,
status)` for each completed tool call (`add_pending(call)` on a fork: a call still running).
`add_turn(text)` adds the text the model wrote in the turn so far, before the call being
predicted (known once the call starts: the name-known prediction); a `turn` entry is visible
only while it is the latest entry, so it never leaks into the prediction of a later turn.
Each arrival is indexed once (its locators, see values.py, and a reverse map value ->
positions), so prediction and derivation never rescan history. `context` is the control-flow token sequence: `<s>`, then per call its kind (with
`!` appended when it failed) and `<u>` for a user message that follows a call. `tools`, when
set, is the set of tool names the session offers (the request's tool list): the predictor
then only predicts those tools, renormalising the control-flow distribution over them.
`today`, when set, is the session's current date: user messages' dates written without a
year ("May 24th") are then located as dates too (values.written_dates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paste.errors import InvalidArgumentError
from paste.patterns.controlflow import USER, call_token
from paste.patterns.swaps import Pairs, conjunct_pairs, locate_swaps
from paste.patterns.textevidence import message_words
from paste.patterns.trace import Status, ToolCall
from paste.patterns.values import locate_arguments, locate_json, locate_message, locate_text

MAX_BACK = 3  # relative rules reach the last MAX_BACK outputs / calls


def used_key(loc: str, value: str) -> str:
    """The `SessionState.used_masks` key of `value` at argument locator `loc`."""
    return f"{loc}\x1d{value}"


@dataclass
class Entry:
    """One indexed arrival: `source` is user, out (a tool output), arg (a call's arguments),
    swap (a call's arguments with a conjunct of the latest user message swapped, swaps.py),
    env (initial environment state) or turn (the model's text before the call being
    predicted); `kind` is the tool kind for out/arg/swap entries."""

    source: str
    kind: str
    locs: dict[str, str]
    ordinal: int  # position among entries of the same source


@dataclass
class SessionState:
    """Incremental state of one session; see module docstring for the contract."""

    env: Any = None
    entries: list[Entry] = field(default_factory=list)
    context: list[str] = field(default_factory=lambda: ["<s>"])
    calls: list[ToolCall] = field(default_factory=list)
    reverse: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    by_source: dict[str, list[int]] = field(default_factory=dict)
    latest_by_kind: dict[tuple[str, str], int] = field(default_factory=dict)
    by_kind: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # kind -> key -> bit mask of the kind's calls (by ordinal) whose arguments held it, keyed
    # by value and by `used_key(argument locator, value)`: the values one earlier call used
    # together (at given arguments) are those whose masks share a bit; a value is in the
    # kind's masks iff one of its calls used it
    used_masks: dict[str, dict[str, int]] = field(default_factory=dict)
    user_words: frozenset[str] = frozenset()  # words of the latest user message
    user_pairs: Pairs = ()  # its conjunct pairs (swaps.py): "A or B"
    num_user: int = 0
    memo: dict = field(default_factory=dict)  # per-user-message caches of predictors
    index_reverse: bool = True  # False in a fork: explain() is then unavailable
    tools: frozenset[str] | None = None  # tool names the session offers (None: unknown)
    params: dict[str, tuple[str, ...]] | None = None  # their required parameters, if known
    docs: dict[str, str] | None = None  # their descriptions, if known
    pending: int = 0  # trailing calls still running: their outputs are not known yet
    today: str | None = None  # the session's current date (ISO), if known: values.written_dates

    def fork(self) -> SessionState:
        """A copy for "what if" prediction (e.g. after a speculative result): later add_*
        calls on either copy never show in the other. The fork skips the reverse index
        (value -> positions), which only `explain` (mining) reads, so forking costs
        O(entries), not O(indexed values)."""
        fork = SessionState(
            entries=list(self.entries),
            context=list(self.context),
            calls=list(self.calls),
            by_source={k: list(v) for k, v in self.by_source.items()},
            latest_by_kind=dict(self.latest_by_kind),
            by_kind={k: list(v) for k, v in self.by_kind.items()},
            used_masks={k: dict(v) for k, v in self.used_masks.items()},
            user_words=self.user_words,
            user_pairs=self.user_pairs,
            num_user=self.num_user,
            index_reverse=False,
            tools=self.tools,
            params=self.params,
            docs=self.docs,
            pending=self.pending,
            today=self.today,
        )
        return fork

    def __post_init__(self) -> None:
        if self.env is not None:
            locs: dict[str, str] = {}
            locate_json(self.env, "j:", locs)
            self._add("env", "", locs)

    def _add(self, source: str, kind: str, locs: dict[str, str]) -> None:
        idx = len(self.entries)
        ids = self.by_source.setdefault(source, [])
        self.entries.append(Entry(source, kind, locs, len(ids)))
        ids.append(idx)
        if kind:
            self.latest_by_kind[(source, kind)] = idx
            self.by_kind.setdefault((source, kind), []).append(idx)
        if self.index_reverse:
            for loc, key in locs.items():
                self.reverse.setdefault(key, []).append((idx, loc))

    def add_user(self, text: str) -> None:
        """A user message arrived (the task, or a later turn)."""
        self._add("user", "", locate_message(text, self.today))
        self.user_words = message_words(text)
        self.user_pairs = conjunct_pairs(text)
        self.num_user += 1
        if self.context[-1] != USER and len(self.context) > 1:
            self.context.append(USER)

    def add_turn(self, text: str) -> None:
        """The model has written `text` in the turn so far, before the call to predict
        (module docstring); nothing for blank text."""
        if text.strip():
            self._add("turn", "", locate_text(text))

    def add_step(self, call: ToolCall, output: str | None, status: Status = "ok") -> None:
        """A call completed with `output` (None when unknown) and `status`."""
        self.calls.append(call)
        locs = locate_arguments(call.arguments)
        masks = self.used_masks.setdefault(call.kind, {})
        bit = 1 << len(self.by_kind.get(("arg", call.kind), ()))  # this call's ordinal
        for loc, value in locs.items():
            masks[value] = masks.get(value, 0) | bit
            if loc.startswith("a:"):  # a leaf, not a span of one
                key = used_key(loc, value)
                masks[key] = masks.get(key, 0) | bit
        self._add("arg", call.kind, locs)
        swaps = locate_swaps(locs, self.user_pairs)
        if swaps:
            self._add("swap", call.kind, swaps)
        if output is not None:
            self._add("out", call.kind, locate_text(output))
        self.context.append(call_token(call.kind, status == "error"))

    def add_pending(self, call: ToolCall) -> None:
        """A call was dispatched and is still running: it counts as a step that succeeded
        with an output nothing can be copied from (a rule reading "the latest output" finds
        nothing rather than an older output), so only arguments that do not come from its
        output can be predicted after it. Used on forks (speculation ahead of a result)."""
        self.add_step(call, "", "ok")
        self.pending += 1

    # -- rules: (source, selector, locator) -------------------------------------------------
    def entry_for(self, source: str, selector: str) -> Entry | None:
        """The entry a rule selector points at: `b<n>` = n-th most recent of the source,
        `k=<kind>` = most recent of that tool kind, `first` = first, `` = the only one."""
        ids = self._visible(source)
        if not ids:
            return None
        if selector.startswith("b"):
            n = int(selector[1:])
            return self.entries[ids[-n]] if n <= len(ids) else None
        if selector.startswith("k="):
            idx = self.latest_by_kind.get((source, selector[2:]))
            return None if idx is None else self.entries[idx]
        if selector == "first":
            return self.entries[ids[0]]
        return self.entries[ids[-1]]

    def last_call_bit(self, kind: str) -> int:
        """The bit of the kind's most recent call in `used_masks` (0: no call of the kind)."""
        n = len(self.by_kind.get(("arg", kind), ()))
        return 1 << (n - 1) if n else 0

    def record_entries(self, source: str, selector: str) -> list[Entry]:
        """The entries a record rule's selector reads (records.py): `a=<kind>` = every
        arrival of that tool kind, oldest first (an agent iterating over the items of several
        outputs, each output's in turn); any other selector = its one entry (`entry_for`)."""
        if selector.startswith("a="):
            return [self.entries[i] for i in self.by_kind.get((source, selector[2:]), ())]
        entry = self.entry_for(source, selector)
        return [] if entry is None else [entry]

    def _visible(self, source: str) -> list[int] | None:
        """The entries of `source` a rule may read: none of a `turn` that is not the latest
        entry (module docstring)."""
        if source == "turn" and self.entries[-1].source != "turn":
            return None
        return self.by_source.get(source)

    def resolve(self, rule: tuple[str, str, str]) -> str | None:
        """The value key a rule produces in this state, or None when it does not apply."""
        entry = self.entry_for(rule[0], rule[1])
        return None if entry is None else entry.locs.get(rule[2])

    def entry_compiled(self, source: str, mode: int, arg: object) -> Entry | None:
        """The entry a compiled selector (see `compile_rule`) points at, or None."""
        if mode == 1:  # most recent of a kind
            idx = self.latest_by_kind.get((source, arg))  # type: ignore[arg-type]
            return None if idx is None else self.entries[idx]
        ids = self._visible(source)
        if not ids:
            return None
        if mode == 0:  # n-th most recent
            n: int = arg  # type: ignore[assignment]
            return self.entries[ids[-n]] if n <= len(ids) else None
        return self.entries[ids[0] if mode == 2 else ids[-1]]

    def resolve_compiled(self, rule: tuple[str, int, object, str]) -> str | None:
        """`resolve` for a rule pre-parsed by `compile_rule` (no string parsing per query)."""
        entry = self.entry_compiled(rule[0], rule[1], rule[2])
        return None if entry is None else entry.locs.get(rule[3])

    @staticmethod
    def compile_rule(rule: tuple[str, str, str]) -> tuple[str, int, object, str]:
        """Pre-parse a rule's selector: mode 0 = b<n>, 1 = k=<kind>, 2 = first, 3 = last."""
        source, selector, loc = rule
        if selector.startswith("b"):
            return (source, 0, int(selector[1:]), loc)
        if selector.startswith("k="):
            return (source, 1, selector[2:], loc)
        return (source, 2 if selector == "first" else 3, None, loc)

    def selectors(self, idx: int) -> list[str]:
        """The selectors (see `entry_for`) that point at entry `idx` in this state."""
        e = self.entries[idx]
        out: list[str] = []
        back = len(self.by_source[e.source]) - e.ordinal
        if back <= MAX_BACK:
            out.append(f"b{back}")
        if e.kind and self.latest_by_kind.get((e.source, e.kind)) == idx:
            out.append(f"k={e.kind}")
        if e.source in ("user", "env") and e.ordinal == 0:
            out.append("first")
        return out

    def known(self, key: str) -> bool:
        """Whether value key `key` was seen before the turn: in an entry other than the turn's
        own text. A value only the turn's text holds stays a literal of the template, as at
        the turn's start, so templates are the same with and without the turn's text."""
        return any(self.entries[idx].source != "turn" for idx, _loc in self.reverse.get(key, ()))

    def explain(self, key: str) -> set[tuple[str, str, str]]:
        """Every rule that would produce value key `key` in this state."""
        if not self.index_reverse:
            raise InvalidArgumentError("explain() needs the reverse index, which a fork lacks")
        return {(self.entries[idx].source, sel, loc)
                for idx, loc in self.reverse.get(key, ()) for sel in self.selectors(idx)}
