"""Co-scheduling priority of a session's model turns.

A session whose tool results just landed, or whose user sent a follow-up ("returning": every
turn of a session but its first), re-enters the engine's BatchLoop ahead of sessions starting
a new task: it already holds KV (retained while it waited), its remaining work is short, and
finishing in-flight tasks first lowers mean task completion time. (Counting follow-ups matters:
multi-turn agents such as tau-bench's alternate user and tool turns, and a follow-up left at
the base priority waits behind every other session's returns, which undid the ordering; in
the trace replay under load that made co-scheduling 0.952 x serial against 0.903 without it,
and 0.789 once follow-ups count, docs/replay.md.) The boost of a returning turn is the sum of
four terms:

    raw    = returning_boost                                           (it holds KV already)
           + aging_weight * min(waited_s, aging_cap_s)                 (aging: no starvation)
           + work_weight * work_scale_tokens / (work_scale_tokens + expected_tokens)
                                                   (shortest expected work first; 0 if unknown)
           + hide_weight * min(expected_tool_s, hide_cap_s)
                          (tool time its next turn's calls can overlap with others' model work)

expected_tokens is the mean output length of the session's recent turns and expected_tool_s
its mean tool time per tool-calling turn (`outlook`). The KV band [kv_low_water,
kv_high_water] keeps cache use from thrashing: the boost is scaled by

    kv_factor = 1                                      usage unknown or <= kv_low_water
              = (high - usage) / (high - low)          inside the band (linear)
              = 0                                      usage >= kv_high_water

so under pressure returning turns stop out-ranking (and so preempting) running sequences.
Decision: above kv_high_water a NEW turn (one not returning from tools) gets base -
new_turn_penalty, so returning turns, whose prompt is mostly retained KV, still go before new
ones, whose whole prompt needs fresh blocks. At or below the band's top new turns get base.

priority = base + kv_factor * raw                                   (returning)
priority = base - (new_turn_penalty if usage > kv_high_water else 0) (new)
priority = base                                                     (policy disabled)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paste.engine.stats import engine_stats
from paste.errors import InvalidArgumentError


@dataclass(frozen=True)
class CoSchedulingPolicy:
    """Weights of the priority above; every weight and cap must be >= 0 and
    0 <= kv_low_water <= kv_high_water <= 1 with kv_high_water > 0 (InvalidArgumentError)."""

    returning_boost: float = 1.0
    aging_weight: float = 0.1
    aging_cap_s: float = 30.0
    work_weight: float = 1.0
    work_scale_tokens: float = 64.0
    hide_weight: float = 0.1
    hide_cap_s: float = 10.0
    kv_low_water: float = 0.7
    kv_high_water: float = 0.9
    new_turn_penalty: float = 1.0
    work_window: int = 4  # recent turns averaged by `outlook`
    enabled: bool = True

    def __post_init__(self) -> None:
        nonneg = ("returning_boost", "aging_weight", "aging_cap_s", "work_weight",
                  "hide_weight", "hide_cap_s", "new_turn_penalty")  # fmt: skip
        for name in nonneg:
            if not getattr(self, name) >= 0:  # also rejects NaN
                raise InvalidArgumentError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.work_scale_tokens > 0:
            raise InvalidArgumentError(
                f"work_scale_tokens must be > 0, got {self.work_scale_tokens}")
        if not 0.0 <= self.kv_low_water <= self.kv_high_water <= 1.0 or self.kv_high_water == 0:
            raise InvalidArgumentError(
                "the KV band needs 0 <= kv_low_water <= kv_high_water <= 1 and kv_high_water > 0, "
                f"got [{self.kv_low_water}, {self.kv_high_water}]"
            )
        if self.work_window < 1:
            raise InvalidArgumentError(f"work_window must be >= 1, got {self.work_window}")

    def kv_factor(self, kv_usage: float | None) -> float:
        """Share of the boost a returning turn gets at this KV usage (see the module doc)."""
        low, high = self.kv_low_water, self.kv_high_water
        if kv_usage is None or kv_usage <= low:
            return 1.0
        if kv_usage >= high:
            return 0.0
        return (high - kv_usage) / (high - low)

    def raw_boost(self, waited_s: float, expected_tokens: float | None,
                  expected_tool_s: float | None) -> float:
        """The unscaled boost of a returning turn (the four terms of the module doc)."""
        boost = self.returning_boost
        boost += self.aging_weight * min(max(waited_s, 0.0), self.aging_cap_s)
        if expected_tokens is not None:
            scale = self.work_scale_tokens
            boost += self.work_weight * scale / (scale + max(expected_tokens, 0.0))
        if expected_tool_s is not None:
            boost += self.hide_weight * min(max(expected_tool_s, 0.0), self.hide_cap_s)
        return boost

    def priority(self, base: float, returning: bool, waited_s: float, kv_usage: float | None,
                 expected_tokens: float | None = None,
                 expected_tool_s: float | None = None) -> float:
        """The BatchLoop priority of the next turn (higher runs first, preempted last)."""
        if not self.enabled:
            return base
        if not returning:
            pressured = kv_usage is not None and kv_usage > self.kv_high_water
            return base - self.new_turn_penalty if pressured else base
        factor = self.kv_factor(kv_usage)
        if factor == 0.0:
            return base
        return base + factor * self.raw_boost(waited_s, expected_tokens, expected_tool_s)


def outlook(turns: list[Any], tool_s: float, window: int) -> tuple[float | None, float | None]:
    """(expected output tokens of the next turn, expected tool seconds per tool-calling turn)
    from a session's TurnMetrics and its total tool seconds; None where there is no history.

    expected tokens: mean num_output_tokens of the last `window` turns. expected tool time:
    tool_s / the number of turns that made calls (a session's tools tend to stay alike)."""
    recent = turns[-window:]
    tokens = sum(t.num_output_tokens for t in recent) / len(recent) if recent else None
    calling = sum(1 for t in turns if t.num_tool_calls > 0)
    return tokens, (tool_s / calling if calling else None)


def engine_kv_usage(engine: object) -> float | None:
    """Fraction of KV blocks in use (engine.stats(): a racy but harmless read), or None for
    an engine that does not say."""
    stats = engine_stats(engine)
    return None if stats is None else stats.kv_usage
