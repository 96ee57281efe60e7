"""Per-turn measurements of a session and the result of one run.

prefix_hit_ratio of a turn = num_cached_tokens / num_prompt_tokens: the share of the rendered
conversation whose KV the engine reused (the session's parked sequence, or prefix-cache
blocks) instead of prefilling it again. Turn 0 of a fresh session usually has none; returning
turns (after tool results) should have most of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from paste.session.events import Status


@dataclass(frozen=True)
class TurnMetrics:
    """One model turn. Times in seconds (time.monotonic()); started_at is relative to the
    session start."""

    index: int
    started_at: float
    model_s: float  # submit -> last token
    ttft_s: float | None
    num_prompt_tokens: int
    num_cached_tokens: int
    num_output_tokens: int
    num_tool_calls: int  # well-formed and malformed
    tool_wait_s: float  # after the turn ended, until every result of the turn was in
    finish_reason: str | None  # "stop" (end of turn), "length" (cut at max_tokens)

    @property
    def prefix_hit_ratio(self) -> float:
        return self.num_cached_tokens / self.num_prompt_tokens if self.num_prompt_tokens else 0.0


@dataclass
class SessionMetrics:
    """Accumulates a session's turns and tool results (all runs of the session)."""

    turns: list[TurnMetrics] = field(default_factory=list)
    num_tool_calls: int = 0
    num_tool_errors: int = 0
    tool_s: float = 0.0
    queue_s: float = 0.0

    def summary(self, total_s: float) -> dict[str, Any]:
        """Plain numbers for SessionResult.metrics and the trace."""
        returning = [t.prefix_hit_ratio for t in self.turns[1:]]
        return {
            "num_turns": len(self.turns),
            "num_tool_calls": self.num_tool_calls,
            "num_tool_errors": self.num_tool_errors,
            "num_prompt_tokens": sum(t.num_prompt_tokens for t in self.turns),
            "num_cached_tokens": sum(t.num_cached_tokens for t in self.turns),
            "num_output_tokens": sum(t.num_output_tokens for t in self.turns),
            "model_s": sum(t.model_s for t in self.turns),
            "tool_wait_s": sum(t.tool_wait_s for t in self.turns),
            "tool_s": self.tool_s,
            "queue_s": self.queue_s,
            "total_s": total_s,
            "prefix_hit_ratios": [t.prefix_hit_ratio for t in self.turns],
            "mean_returning_prefix_hit_ratio": (
                sum(returning) / len(returning) if returning else 0.0
            ),
            "turns": [dict(asdict(t), prefix_hit_ratio=t.prefix_hit_ratio) for t in self.turns],
        }


@dataclass(frozen=True)
class SessionResult:
    """The outcome of one `Session.run`.

    status: "completed" (final_text is the model's answer), "max_turns" or "error" (final_text
    is a message saying why); None if no run has ended (an abandoned stream). messages: the
    whole transcript so far (a new list of the same message dicts), every committed message
    included whatever the status. metrics: SessionMetrics.summary() of the session.
    """

    status: Status | None
    final_text: str
    messages: list[dict[str, Any]]
    metrics: dict[str, Any]
