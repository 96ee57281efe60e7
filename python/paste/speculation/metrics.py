"""SpeculationMetrics: what speculation did, per session and per engine (thread-safe)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass


@dataclass
class SpeculationCounts:
    authoritative_calls: int = 0
    hits_promoted: int = 0  # speculative job still queued: moved to the authoritative lane
    hits_awaited: int = 0  # running when the model emitted the call: awaited
    hits_reused: int = 0  # already done: staged result used at once
    misses: int = 0
    speculative_jobs: int = 0
    cancelled: int = 0
    stale_discarded: int = 0
    promoted_early: int = 0  # queued jobs promoted on the trie's CONFIRMED, before call complete
    refuted_cancelled: int = 0  # queued jobs withdrawn on the trie's REFUTED
    waste_s: float = 0.0  # tool-seconds of speculative work whose result was never used
    observed_tool_latency_s: float = 0.0  # sum over authoritative calls
    rejected: dict[str, int] | None = None

    @property
    def hits(self) -> int:
        return self.hits_promoted + self.hits_awaited + self.hits_reused

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["hits"] = self.hits
        out["rejected"] = dict(self.rejected or {})
        return out


class SpeculationMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = SpeculationCounts(rejected={})
        self.sessions: dict[str, SpeculationCounts] = {}

    def add(self, session_id: str, field_name: str, amount: float = 1) -> None:
        with self._lock:
            for counts in (self.total, self._session(session_id)):
                setattr(counts, field_name, getattr(counts, field_name) + amount)

    def reject(self, session_id: str, reason: str) -> None:
        with self._lock:
            for counts in (self.total, self._session(session_id)):
                assert counts.rejected is not None
                counts.rejected[reason] = counts.rejected.get(reason, 0) + 1

    def snapshot(self, session_id: str | None = None) -> dict[str, object]:
        with self._lock:
            counts = self.total if session_id is None else self._session(session_id)
            return counts.as_dict()

    def _session(self, session_id: str) -> SpeculationCounts:
        if session_id not in self.sessions:
            self.sessions[session_id] = SpeculationCounts(rejected={})
        return self.sessions[session_id]
