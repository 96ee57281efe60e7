"""Tools unknown to training: a session may offer, and call, tools that no training session
offered or called (ToolBench gives each task its own RapidAPI endpoints). The control flow
has never seen such a tool, so without this it could never be predicted.

A tool is *known* when a training session offered or called it. When a session offers
unknown tools, the control-flow distribution over its offered tools (controlflow.restricted)
is scaled by 1 - r and the unknown tools share r equally, where r is the leave-one-group-out
rate at which training calls were of a tool no session of another task group offered or
called: the chance, measured on training, that a call is of a tool the rest of training did
not know. The user message's tool-name overlap (textevidence.py) then reorders them with the
rest ("perform a product search" -> products_for_seo_api). An unknown tool has no templates;
its call with no arguments is predicted with the kind's probability times the rate at which
such calls had no arguments (`empty_rate`), so argument-free endpoints can be hit exactly.
"""

from __future__ import annotations

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
        self._rates: tuple[float, float] | None = None

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

    def known(self, name: str) -> bool:
        return name in self.tool_groups

    def rates(self) -> tuple[float, float]:
        """(r, empty_rate) of the module docstring: the share of training calls whose tool no
        other task group knew, and the share of those calls that had no arguments."""
        if self._rates is None:
            total = unknown = empty = 0
            for key, (n, n_empty) in self.calls.items():
                total += n
                name, group = key.split(SEP, 1)
                if self.tool_groups[name] == {group}:
                    unknown += n
                    empty += n_empty
            self._rates = (unknown / total if total else 0.0, empty / unknown if unknown else 0.0)
        return self._rates

    def to_json(self) -> dict:
        return {"tool_groups": {k: sorted(v) for k, v in self.tool_groups.items()},
                "calls": self.calls}

    @classmethod
    def from_json(cls, data: dict) -> UnknownTools:
        out = cls()
        out.tool_groups = {k: set(v) for k, v in data["tool_groups"].items()}
        out.calls = {k: list(v) for k, v in data["calls"].items()}
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
        rate = 0.0
    elif seen <= 0.0:
        rate = 1.0
    calls = 1.0 - p_end
    out = [(t, calls * (1.0 - rate) * p / seen) for t, p in raw.items() if p > 0.0]
    if rate > 0.0:
        out += [(t, calls * rate / len(unknown)) for t in unknown]
    if p_end > 0.0:
        out.append((END, p_end))
    return sorted(out, key=lambda x: (-x[1], x[0]))
