"""SpeculationConfig: every mechanism can be switched off on its own (ablations)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from paste.errors import InvalidArgumentError
from paste.speculation.waste import check_max_waste_ratio


@dataclass(frozen=True)
class SpeculationConfig:
    """Flags and limits of speculation.

    enable_speculation: run predicted calls early (off = serial tools).
    max_concurrent_jobs: the ONE global budget of running/queued speculative jobs.
    max_predictions_per_event: candidates asked from the predictor when a result lands.
    min_probability: predictions below it are never considered.
    ttl_s: an unclaimed staged result (or job) is dropped after this long.
    coordination_cost_s: initial estimate of the cost of one speculation (then measured).
    learn_latency: a candidate's expected tool latency is what this engine measured for its
        kind (speculation/latency.py) once it has a measurement; off = the predictor's estimate.
    waste_price: seconds of user wait one wasted tool-second is worth (admission's value:
        p * hidden time - waste_price * (1 - p) * tool latency - coordination cost > 0);
        0 = wasted tool time is free (only the budget bounds it). Default 0.1.
    max_waste_ratio: speculation may waste at most this many tool-seconds per tool-second the
        sessions used, across the engine, counting every job in flight as wasted until it is
        claimed (speculation/waste.py); None = unbounded. Default 0.5.
    enable_trie: match the decoded tokens against the staged calls in the engine (promote a
        queued job on CONFIRMED, withdraw queued ones on REFUTED); off = the parser alone.
    chain: when a speculative result lands, also predict (and admit) the call after it, as if
        the model had emitted the speculated call; its probability is the product of both.
    lookahead: when the model emits a pure / read_only call, also predict (and admit) the
        call after it while it runs, from what is known without its output (speculator.py).
    name_known: while the model decodes a call, the moment its tool name is written out
        (parsing.peek), predict (and admit) that tool's calls from what is known then: the
        turn's text before the call included, other tools excluded (speculator.py). Off by
        default: on the recorded traces at GPU decode rates it added a hit or two and its
        waste, not speed (docs/replay.md); it can pay where decoding is slow or calls long.
    transactions: side-effecting calls of tools that supply a transaction may run
        speculatively on a private copy (paste.tools.transaction); off = only pure/read_only
        calls (and sandboxed tools with a freshness check).
    cpu_slots: a speculative call of a cpu_bound tool is admitted only while fewer cpu_bound
        jobs (authoritative + speculative, across the shared budget) run; 0 = never speculate
        cpu_bound calls. Default: half the machine's cores, at least 1.
    """

    enable_speculation: bool = True
    max_concurrent_jobs: int = 16
    max_predictions_per_event: int = 3
    min_probability: float = 0.05
    ttl_s: float = 120.0
    coordination_cost_s: float = 0.001
    waste_price: float = 0.1
    max_waste_ratio: float | None = 0.5
    learn_latency: bool = True
    enable_trie: bool = True
    chain: bool = True
    lookahead: bool = True
    name_known: bool = False
    transactions: bool = True
    cpu_slots: int = field(default_factory=lambda: default_cpu_slots())

    def __post_init__(self) -> None:
        if self.max_concurrent_jobs < 0 or self.max_predictions_per_event < 0:
            raise InvalidArgumentError("speculation limits must be >= 0")
        if not 0.0 <= self.min_probability <= 1.0:
            raise InvalidArgumentError("min_probability must be in [0, 1]")
        if not 0.0 <= self.waste_price < float("inf"):
            raise InvalidArgumentError(f"waste_price must be >= 0, got {self.waste_price!r}")
        check_max_waste_ratio(self.max_waste_ratio)
        if self.ttl_s <= 0 or self.coordination_cost_s < 0:
            raise InvalidArgumentError("ttl_s must be > 0 and coordination_cost_s >= 0")
        if isinstance(self.cpu_slots, bool) or not isinstance(self.cpu_slots, int) \
                or self.cpu_slots < 0:
            raise InvalidArgumentError(f"cpu_slots must be an int >= 0, got {self.cpu_slots!r}")


def default_cpu_slots() -> int:
    """Half the machine's cores, at least 1 (the rest stay for authoritative work)."""
    return max(1, (os.cpu_count() or 1) // 2)
