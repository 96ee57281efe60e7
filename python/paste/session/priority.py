"""Co-scheduling priority of a session's model turns.

A session whose tool results just landed ("returning") re-enters the engine's BatchLoop ahead
of sessions starting a new task: it already holds KV (retained while it waited), its remaining
work is one more turn, and finishing in-flight tasks first lowers mean task completion time.
Among returning sessions, the one that waited longer goes first (aging, capped). Under KV
pressure the boost is withheld so that admitting returning sessions cannot thrash the cache:
above `kv_high_water` of the KV blocks in use, every turn gets the base priority.

priority = base + returning_boost + aging_weight * min(waited_s, aging_cap_s)   (returning)
priority = base                                                                  (otherwise)
"""

from __future__ import annotations

from dataclasses import dataclass

from paste.errors import InvalidArgumentError


@dataclass(frozen=True)
class CoSchedulingPolicy:
    returning_boost: float = 1.0
    aging_weight: float = 0.1
    aging_cap_s: float = 30.0
    kv_high_water: float = 0.9
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.aging_cap_s < 0 or not 0.0 < self.kv_high_water <= 1.0:
            raise InvalidArgumentError("aging_cap_s must be >= 0 and kv_high_water in (0, 1]")

    def priority(self, base: float, returning: bool, waited_s: float,
                 kv_usage: float | None) -> float:
        """The BatchLoop priority of the next turn (higher runs first, preempted last)."""
        if not self.enabled or not returning:
            return base
        if kv_usage is not None and kv_usage > self.kv_high_water:
            return base
        return base + self.returning_boost + self.aging_weight * min(max(waited_s, 0.0),
                                                                     self.aging_cap_s)


def engine_kv_usage(engine: object) -> float | None:
    """Fraction of KV blocks in use (a racy but harmless read), or None if unknown."""
    try:
        bm = engine.core.loop.block_manager  # type: ignore[attr-defined]
        return bm.num_used_blocks / bm.num_blocks
    except AttributeError:
        return None
