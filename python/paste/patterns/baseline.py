"""Bigram baseline: previous call kind -> most frequent next kinds, each with the arguments
most frequently used with that kind in training (the issue's reference point)."""

from __future__ import annotations

import json
from collections import Counter

from paste.patterns.canonical import _canonical_call
from paste.patterns.replay import replay
from paste.patterns.trace import ToolCall, Trace


class BigramBaseline:
    """Counts kind bigrams (`<s>` before the first call) and per-kind argument frequencies."""

    def __init__(self, traces: list[Trace]) -> None:
        self.next: dict[str, Counter[str]] = {}
        self.args: dict[str, Counter[str]] = {}
        self.names: dict[str, str] = {}
        for trace in traces:
            prev = "<s>"
            for call in trace.calls:
                self.next.setdefault(prev, Counter())[call.kind] += 1
                self.args.setdefault(call.kind, Counter())[
                    json.dumps(call.arguments, sort_keys=True)
                ] += 1
                self.names[call.kind] = call.name
                prev = call.kind
        self._unigram: Counter[str] = Counter()
        for counts in self.next.values():
            self._unigram.update(counts)

    def predict(
        self, previous_kind: str, k: int, tools: frozenset[str] | None = None
    ) -> list[tuple[str, str]]:
        """Top-k (kind, canonical call) after `previous_kind` (unigram when unseen); with
        `tools` (the tools the session offers), only kinds of those tools, the unigram
        filling in when none of them ever followed `previous_kind`."""
        counts = self.next.get(previous_kind) or self._unigram
        if tools is not None:
            counts = self._offered(counts, tools) or self._offered(self._unigram, tools)
        out = []
        for kind, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]:
            args = json.loads(self.args[kind].most_common(1)[0][0])
            out.append((kind, _canonical_call(self.names[kind], args)))
        return out

    def _offered(self, counts: Counter[str], tools: frozenset[str]) -> Counter[str]:
        return Counter({kd: n for kd, n in counts.items() if self.names[kd] in tools})


def previous_kinds(trace: Trace) -> list[tuple[str, ToolCall]]:
    """(kind of the previous call or `<s>`, call) for each call of `trace`."""
    out = []
    prev = "<s>"
    for _state, step in replay(trace):
        assert step.call is not None
        out.append((prev, step.call))
        prev = step.call.kind
    return out
