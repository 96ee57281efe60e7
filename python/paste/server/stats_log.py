"""StatsLog: a line every few seconds while the engine works, as vLLM logs its throughput.

    paste: prompt 245.3 tok/s, generation 12.1 tok/s, running 2, waiting 0, parked 5,
    KV cache 3.2%, prefix cache hit 81.5%, drafts accepted 58.3%, tool calls 7 (3 answered
    by speculation)

Over the interval since the previous line: prompt tokens computed per second (admitted less
reused), tokens generated per second, prefix cache hit = reused / admitted prompt tokens (left
out when nothing was admitted), draft tokens accepted / drafted (left out without drafts), tool
calls the models of speculating native sessions emitted and how many a speculative job answered
(left out without calls). At the moment: sequences running, waiting and parked (sessions
waiting on tools with their KV kept), KV blocks in use.

A line is written while the engine has work or did some in the interval, then once more when
it has gone idle (its zeros say so); an idle server writes nothing. Counters that start again
from 0 (an engine process replaced, engine/process_engine.py) count from 0.

Lines go to the logger "paste.stats" at INFO; `paste serve` prints them to stderr
(server/serve.py), an embedding service routes them as it routes its logging.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paste.engine.stats import EngineStats, engine_stats

log = logging.getLogger("paste.stats")


@dataclass(frozen=True)
class StatsSample:
    """What the engine and speculation had counted at one moment."""

    time_s: float
    engine: EngineStats
    calls: int = 0  # tool calls emitted by speculating sessions' models
    hits: int = 0  # of which a speculative job answered


def take_sample(engine: Any, speculation: Any, time_s: float) -> StatsSample | None:
    """The sample of `engine` (None for an engine that keeps no stats) and the server's
    ServerSpeculation (None: it does not speculate)."""
    stats = engine_stats(engine)
    if stats is None:
        return None
    if speculation is None:
        return StatsSample(time_s, stats)
    counts = speculation.snapshot()
    return StatsSample(time_s, stats, int(counts["authoritative_calls"]), int(counts["hits"]))


def _grown(before: int, after: int) -> int:
    """What a counter added; a counter that started again from 0 added all it has."""
    return after - before if after >= before else after


def is_active(prev: StatsSample, now: StatsSample) -> bool:
    """The engine has work now, or did some between the two samples."""
    a, b = prev.engine, now.engine
    return bool(b.num_running or b.num_waiting
                or _grown(a.num_generated_tokens, b.num_generated_tokens)
                or _grown(a.num_admitted_tokens, b.num_admitted_tokens)
                or _grown(prev.calls, now.calls))


def stats_line(prev: StatsSample, now: StatsSample) -> str:
    """The line for the interval from `prev` to `now` (module doc)."""
    seconds = max(now.time_s - prev.time_s, 1e-9)
    a, b = prev.engine, now.engine
    admitted = _grown(a.num_admitted_tokens, b.num_admitted_tokens)
    reused = min(_grown(a.num_reused_tokens, b.num_reused_tokens), admitted)
    generated = _grown(a.num_generated_tokens, b.num_generated_tokens)
    parts = [f"prompt {(admitted - reused) / seconds:.1f} tok/s",
             f"generation {generated / seconds:.1f} tok/s",
             f"running {b.num_running}", f"waiting {b.num_waiting}", f"parked {b.num_parked}",
             f"KV cache {100 * b.kv_usage:.1f}%"]
    if admitted:
        parts.append(f"prefix cache hit {100 * reused / admitted:.1f}%")
    drafted = _grown(a.num_draft_tokens, b.num_draft_tokens)
    if drafted:
        accepted = _grown(a.num_accepted_draft_tokens, b.num_accepted_draft_tokens)
        parts.append(f"drafts accepted {100 * accepted / drafted:.1f}%")
    calls = _grown(prev.calls, now.calls)
    if calls:
        parts.append(f"tool calls {calls} ({_grown(prev.hits, now.hits)} answered by "
                     "speculation)")
    return "paste: " + ", ".join(parts)


class StatsLog:
    """Samples the engine every `interval_s` and logs stats_line while it is active."""

    def __init__(self, engine: Any, speculation: Any, interval_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.speculation = engine, speculation
        self.interval_s, self.clock = interval_s, clock
        self._prev = take_sample(engine, speculation, clock())
        self._was_active = False

    def tick(self) -> str | None:
        """Sample now; log and return the line if one is due (module doc), else None."""
        now = take_sample(self.engine, self.speculation, self.clock())
        if now is None or self._prev is None:
            self._prev = now
            return None
        active = is_active(self._prev, now)
        line = stats_line(self._prev, now) if active or self._was_active else None
        self._prev, self._was_active = now, active
        if line is not None:
            log.info(line)
        return line

    async def run(self) -> None:
        """tick() every interval until cancelled; a failed sample is logged, not fatal."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.tick()
            except Exception:  # an engine being replaced: the next interval samples again
                log.exception("engine stats could not be read")
