"""StagingStore: speculative jobs and their results, private to the session that predicted them.

Entries are keyed by (session id, canonical call). Nothing here is visible to a session until it
claims the entry for a call the model actually emitted (a hit). Freshness: each session has a
side-effect epoch, bumped whenever the session runs a call that is not pure/read_only; an entry
started in an older epoch is stale and is never claimed (invariant 4), and so is one whose
tool's freshness check rejects the result. Entries older than the TTL are dropped.

Thread-safe: the executor's callbacks, the session threads and the sweeper use it concurrently.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from paste.speculation.waste import Reservation
from paste.tools.future import ToolFuture


@dataclass
class StagedJob:
    session_id: str
    canonical: str
    name: str
    arguments: dict[str, Any]
    future: ToolFuture
    epoch: int
    started_at: float = field(default_factory=time.monotonic)
    cand_id: int = -1  # the job's candidate id in the engine's trie matcher
    call_id: str = ""  # the job's own call id ("spec-N")
    # Promoted early (trie CONFIRMED): `future` is then an authoritative job of the same call,
    # claimed like any staged job when the model's call completes.
    promoted: bool = False
    reservation: Reservation | None = None  # on the WasteBudget, until claimed or discarded
    target: int = 0  # the session's emitted call it was launched for (1 = the first)


class StagingStore:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._jobs: dict[tuple[str, str], StagedJob] = {}
        self._epochs: dict[str, int] = {}
        self._lock = threading.Lock()

    def epoch(self, session_id: str) -> int:
        with self._lock:
            return self._epochs.get(session_id, 0)

    def bump_epoch(self, session_id: str) -> list[StagedJob]:
        """A side-effecting call ran: every staged job of the session is now stale; they are
        removed and returned so the caller can cancel them and count their waste."""
        with self._lock:
            self._epochs[session_id] = self._epochs.get(session_id, 0) + 1
            return self._pop_where(lambda j: j.session_id == session_id)

    def has(self, session_id: str, canonical: str) -> bool:
        with self._lock:
            return (session_id, canonical) in self._jobs

    def get(self, session_id: str, canonical: str) -> StagedJob | None:
        """The staged job for this call (not claimed: it stays staged), or None."""
        with self._lock:
            return self._jobs.get((session_id, canonical))

    def put(self, job: StagedJob) -> bool:
        """Stages a job; False (not staged) if one for the same call exists or it is stale."""
        with self._lock:
            key = (job.session_id, job.canonical)
            if key in self._jobs or job.epoch != self._epochs.get(job.session_id, 0):
                return False
            self._jobs[key] = job
            return True

    def replace(self, old: StagedJob, new: StagedJob) -> bool:
        """Puts `new` in `old`'s place if `old` is still staged and fresh; False otherwise."""
        with self._lock:
            key = (old.session_id, old.canonical)
            if self._jobs.get(key) is not old or old.epoch != self._epochs.get(old.session_id, 0):
                return False
            self._jobs[key] = new
            return True

    def remove(self, job: StagedJob) -> bool:
        """Drops `job` if it is still staged; False if it was claimed or dropped already."""
        with self._lock:
            key = (job.session_id, job.canonical)
            if self._jobs.get(key) is not job:
                return False
            del self._jobs[key]
            return True

    def claim(self, session_id: str, canonical: str) -> StagedJob | None:
        """Removes and returns the fresh job for this call, or None (miss)."""
        with self._lock:
            job = self._jobs.pop((session_id, canonical), None)
            if job is None or job.epoch != self._epochs.get(session_id, 0):
                return None
            return job

    def drop_session(self, session_id: str) -> list[StagedJob]:
        with self._lock:
            self._epochs.pop(session_id, None)
            return self._pop_where(lambda j: j.session_id == session_id)

    def expire(self, now: float | None = None) -> list[StagedJob]:
        now = time.monotonic() if now is None else now
        with self._lock:
            return self._pop_where(lambda j: now - j.started_at > self.ttl_s)

    def jobs(self, session_id: str) -> list[StagedJob]:
        with self._lock:
            return [j for j in self._jobs.values() if j.session_id == session_id]

    def _pop_where(self, pred: Any) -> list[StagedJob]:
        gone = [k for k, j in self._jobs.items() if pred(j)]
        return [self._jobs.pop(k) for k in gone]
