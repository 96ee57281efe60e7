"""Tools unknown to training: a session may offer, and call, tools that no training session
offered or called (ToolBench gives each task its own RapidAPI endpoints). The control flow
has never seen such a tool, so without this it could never be predicted.

A tool is *known* when a training session offered or called it. When a session offers
unknown tools, the control-flow distribution over its offered tools (controlflow.restricted)
is scaled by 1 - r and the unknown tools share r equally, where r is the leave-one-group-out
rate at which training calls were of a tool no session of another task group offered or
called: the chance, measured on training, that a call is of a tool the rest of training did
not know. The user message's tool-name overlap (textevidence.py) then reorders them with the
rest ("perform a product search" -> products_for_seo_api). An unknown tool has no templates.
When the request's schemas are known (`SessionState.params`: each tool's required
parameters) and the tool requires one parameter, its calls set that parameter to the value
at each locator of the latest user message (a tracking number, a quoted name), each with
the kind's probability times that locator's precision measured on training calls of unknown
one-parameter tools (`UnknownTools.locators`); a tool that requires none, or whose schema is
unknown, gets its argument-free call with the kind's probability times the rate at which
unknown tools' calls had no arguments (`empty_rate`); one that requires more gets none.
"""

from __future__ import annotations

from paste.patterns.canonical import value_key
from paste.patterns.controlflow import END, ControlFlowModel
from paste.patterns.trace import Trace

SEP = "\x1f"


def tool_name(kind: str) -> str:
    """The tool a call kind is emitted as (`bash:<head>` kinds are calls of the bash tool)."""
    return "bash" if kind.startswith("bash:") else kind


class UnknownTools:
    """Which task groups offered or called each tool, and the calls of each tool per group
    (with how many had no arguments): the counts behind `rates()`."""

    def __init__(self) -> None:
        self.tool_groups: dict[str, set[str]] = {}
        self.calls: dict[str, list[int]] = {}  # tool SEP group -> [calls, argument-free calls]
        # tool SEP group -> user-message locator -> [calls of the tool (one required
        # parameter) made while the latest user message had the locator, calls that were
        # exactly {parameter: that locator's value}]
        self.single: dict[str, dict[str, list[int]]] = {}
        self._rates: tuple[float, float] | None = None
        self._locators: list[tuple[str, float]] | None = None

    def observe(self, trace: Trace) -> None:
        """Count one training session: its offered tools and its calls."""
        for name in trace.tools or ():
            self.tool_groups.setdefault(name, set()).add(trace.group)
        for call in trace.calls:
            self.tool_groups.setdefault(call.name, set()).add(trace.group)
            row = self.calls.setdefault(call.name + SEP + trace.group, [0, 0])
            row[0] += 1
            row[1] += not call.arguments
        self._rates = None

    def observe_single(self, name: str, group: str, arguments: dict, param: str,
                       user_locs: dict[str, str]) -> None:
        """A training call of `name`, whose schema requires `param` alone, made while the
        latest user message had the locators `user_locs` (locator -> value key)."""
        exact = list(arguments) == [param]
        value = value_key(arguments[param]) if exact else None
        row = self.single.setdefault(name + SEP + group, {})
        for loc, v in user_locs.items():
            counts = row.setdefault(loc, [0, 0])
            counts[0] += 1
            counts[1] += v == value
        self._locators = None

    def locators(self) -> list[tuple[str, float]]:
        """(user-message locator, P(an unknown tool's call is exactly {its one required
        parameter: the locator's value} | the latest message has the locator)), most precise
        first: counts of the calls of tools no other task group knew (as `rates`), one added
        to each locator's misses."""
        if self._locators is None:
            pooled: dict[str, list[int]] = {}
            for key, row in self.single.items():
                name, group = key.split(SEP, 1)
                if self.tool_groups.get(name) != {group}:
                    continue
                for loc, (n, hits) in row.items():
                    acc = pooled.setdefault(loc, [0, 0])
                    acc[0] += n
                    acc[1] += hits
            self._locators = sorted(
                ((loc, hits / (n + 1)) for loc, (n, hits) in pooled.items() if hits),
                key=lambda x: (-x[1], x[0]))
        return self._locators

    def known(self, name: str) -> bool:
        return name in self.tool_groups

    def rates(self) -> tuple[float, float]:
        """(r, empty_rate) of the module docstring: the share of training calls whose tool no
        other task group knew (add-one smoothed), and the share of those calls that had no
        arguments."""
        if self._rates is None:
            total = unknown = empty = 0
            for key, (n, n_empty) in self.calls.items():
                total += n
                name, group = key.split(SEP, 1)
                if self.tool_groups[name] == {group}:
                    unknown += n
                    empty += n_empty
            # one pseudo-call each way: a training set whose every call is of its own group's
            # tool must not rule out the seen tools altogether
            self._rates = ((unknown + 1) / (total + 2) if total else 0.0,
                           empty / unknown if unknown else 0.0)
        return self._rates

    def to_json(self) -> dict:
        return {"tool_groups": {k: sorted(v) for k, v in self.tool_groups.items()},
                "calls": self.calls, "single": self.single}

    @classmethod
    def from_json(cls, data: dict) -> UnknownTools:
        out = cls()
        out.tool_groups = {k: set(v) for k, v in data["tool_groups"].items()}
        out.calls = {k: list(v) for k, v in data["calls"].items()}
        out.single = {k: {loc: list(c) for loc, c in row.items()}
                      for k, row in data.get("single", {}).items()}
        return out


def offered_tokens(
    vocabulary: list[str], offered: frozenset[str], known: set[str] | dict
) -> tuple[frozenset[str], tuple[str, ...]]:
    """(the control-flow tokens of the offered tools that training saw, plus `<end>`; the
    offered tools training did not know, sorted)."""
    allowed = frozenset(t for t in vocabulary if tool_name(t.rstrip("!")) in offered) | {END}
    seen_tools = {tool_name(t.rstrip("!")) for t in allowed}
    unknown = tuple(sorted(t for t in offered if t not in known and t not in seen_tools))
    return allowed, unknown


def offered_distribution(
    cf: ControlFlowModel, context: list[str], allowed: frozenset[str],
    unknown: tuple[str, ...], rate: float,
) -> list[tuple[str, float]]:
    """P(next token | context) over the offered tools, most likely first. `<end>` keeps its
    own probability: the mass of the tools the session does not offer goes to the ones it
    does, not to ending the session. Of that call mass, the seen offered kinds share 1 - rate
    in proportion to their probabilities and the `unknown` tools share `rate` equally (the
    seen kinds all of it when no tool is unknown, the unknown ones all of it when no seen
    kind has any probability)."""
    raw = cf.probabilities(context, allowed | {END})
    p_end = min(raw.pop(END), 1.0)
    seen = sum(raw.values())
    if not unknown or rate <= 0.0:
        rate, unknown = 0.0, ()
    elif seen <= 0.0:
        rate = 1.0
    calls = 1.0 - p_end
    out = [(t, calls * (1.0 - rate) * p / seen) for t, p in raw.items()] if seen > 0.0 else []
    out += [(t, calls * rate / len(unknown)) for t in unknown]
    out.append((END, p_end))
    return sorted(((t, p) for t, p in out if p > 0.0), key=lambda x: (-x[1], x[0]))
