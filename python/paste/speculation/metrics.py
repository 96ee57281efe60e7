"""SpeculationMetrics: what speculation did, per session and per engine (thread-safe).

The engine totals are exact forever. The per-session table is bounded (a long-running server
sees unboundedly many sessions): it holds at most `max_sessions` entries, ordered by last
update; adding a session beyond that evicts the session that ended longest ago (end_session),
or, when none has ended, the least recently updated one. A just-ended session stays readable
until max_sessions newer or still-running sessions push it out. Counts added to an evicted
session afterwards (a late callback) start a fresh entry; reading an unknown session gives
zeros and adds nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

from paste.errors import InvalidArgumentError


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
    yielded: int = 0  # running speculative cpu_bound jobs cancelled for an authoritative one
    waste_cut: int = 0  # jobs in flight cancelled to keep waste within the bound (waste.py)
    chained_jobs: int = 0  # speculative jobs launched after another speculative result
    lookahead_jobs: int = 0  # speculative jobs launched beside an emitted read-only call
    named_jobs: int = 0  # speculative jobs launched once a call's tool name was decoded
    committed: int = 0  # transactional hits whose staged effects were committed
    commit_failures: int = 0  # transactional hits whose commit raised (the call ran for real)
    waste_s: float = 0.0  # tool-seconds of speculative work whose result was never used
    observed_tool_latency_s: float = 0.0  # sum over authoritative calls
    rejected: dict[str, int] | None = None
    miss_causes: dict[str, int] | None = None  # misses by cause (misscause.py); sums to misses

    @property
    def hits(self) -> int:
        return self.hits_promoted + self.hits_awaited + self.hits_reused

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["hits"] = self.hits
        out["rejected"] = dict(self.rejected or {})
        out["miss_causes"] = dict(self.miss_causes or {})
        return out


DEFAULT_MAX_SESSIONS = 4096


class SpeculationMetrics:
    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) \
                or max_sessions < 1:
            raise InvalidArgumentError(f"max_sessions must be an int >= 1, got {max_sessions!r}")
        self.max_sessions = max_sessions
        self._lock = threading.Lock()
        self.total = SpeculationCounts(rejected={})
        # Least recently updated first; _ended: ended sessions still in the table, oldest end
        # first (the eviction order).
        self.sessions: OrderedDict[str, SpeculationCounts] = OrderedDict()
        self._ended: OrderedDict[str, None] = OrderedDict()

    def add(self, session_id: str, field_name: str, amount: float = 1) -> None:
        with self._lock:
            for counts in (self.total, self._session(session_id)):
                setattr(counts, field_name, getattr(counts, field_name) + amount)

    def reject(self, session_id: str, reason: str) -> None:
        with self._lock:
            for counts in (self.total, self._session(session_id)):
                assert counts.rejected is not None
                counts.rejected[reason] = counts.rejected.get(reason, 0) + 1

    def miss(self, session_id: str, cause: str) -> None:
        """An emitted call no speculative job answered, and why (misscause.py)."""
        with self._lock:
            for counts in (self.total, self._session(session_id)):
                counts.misses += 1
                if counts.miss_causes is None:
                    counts.miss_causes = {}
                counts.miss_causes[cause] = counts.miss_causes.get(cause, 0) + 1

    def snapshot(self, session_id: str | None = None) -> dict[str, object]:
        """The engine totals (None) or one session's counts (zeros if it is not in the table)."""
        with self._lock:
            if session_id is None:
                return self.total.as_dict()
            counts = self.sessions.get(session_id)
            return (counts or SpeculationCounts(rejected={})).as_dict()

    def end_session(self, session_id: str) -> None:
        """The session ended: its entry becomes the first to go once the table is full."""
        with self._lock:
            if session_id in self.sessions:
                self._ended[session_id] = None
                self._ended.move_to_end(session_id)

    def _session(self, session_id: str) -> SpeculationCounts:
        counts = self.sessions.get(session_id)
        if counts is not None:
            self.sessions.move_to_end(session_id)
            return counts
        while len(self.sessions) >= self.max_sessions:
            if self._ended:
                gone, _ = self._ended.popitem(last=False)
                del self.sessions[gone]
            else:
                gone, _ = self.sessions.popitem(last=False)
        counts = self.sessions[session_id] = SpeculationCounts(rejected={})
        return counts
