"""SpeculationBudget: one global cap on speculative jobs in flight, across all sessions, and
the count of running cpu_bound jobs that speculation's cpu slots are measured against.

Published measurements found per-session top-k speculation slower than no speculation under
load: the cap must be global. try_acquire() never blocks; release() is called exactly once per
successful acquire, when the job finishes, is cancelled or is promoted to authoritative.

CPU slots: a cpu_bound tool (ToolSpec.cpu_bound) keeps a core busy, so a speculative run on a
small machine steals CPU from the authoritative runs it was meant to hide. Every cpu_bound job
of every manager sharing this budget is counted while it runs, authoritative and speculative
alike (start_cpu / try_start_cpu, then finish_cpu once, when its future completes). A
speculative one starts only while fewer than `cpu_slots` are counted. An authoritative one
always starts; if the slots were already all taken, the most recently registered yieldable
speculative job (register_yieldable) is told to yield (its `on_yield` runs, outside the lock,
on the authoritative caller's thread) so the authoritative job gets its core back
(invariant 3). A job that is claimed by the model's call, or ends, is unregistered first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from paste.errors import InternalError


class SpeculationBudget:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._in_use = 0
        self._num_cpu_running = 0
        self._yieldable: dict[Hashable, Callable[[], None]] = {}  # in registration order
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._in_use

    @property
    def num_cpu_running(self) -> int:
        """cpu_bound jobs counted as running (authoritative + speculative)."""
        with self._lock:
            return self._num_cpu_running

    @property
    def num_yieldable(self) -> int:
        """Running speculative cpu_bound jobs that an authoritative start may make yield."""
        with self._lock:
            return len(self._yieldable)

    def try_acquire(self) -> bool:
        with self._lock:
            if self._in_use >= self.capacity:
                return False
            self._in_use += 1
            return True

    def release(self) -> None:
        with self._lock:
            if self._in_use <= 0:
                raise InternalError("SpeculationBudget.release without a matching acquire")
            self._in_use -= 1

    # -- cpu slots -------------------------------------------------------------------------

    def try_start_cpu(self, cpu_slots: int) -> bool:
        """A speculative cpu_bound job may start: counted and True iff fewer than cpu_slots
        cpu_bound jobs run now."""
        with self._lock:
            if self._num_cpu_running >= cpu_slots:
                return False
            self._num_cpu_running += 1
            return True

    def start_cpu(self, cpu_slots: int) -> bool:
        """An authoritative cpu_bound job starts (always counted). If cpu_slots were already
        all taken, the newest yieldable speculative job yields; True if one did."""
        with self._lock:
            exhausted = self._num_cpu_running >= cpu_slots
            self._num_cpu_running += 1
            on_yield = self._yieldable.popitem()[1] if exhausted and self._yieldable else None
        if on_yield is None:
            return False
        on_yield()
        return True

    def finish_cpu(self) -> None:
        """A counted cpu_bound job ended (once per try_start_cpu that returned True or
        start_cpu)."""
        with self._lock:
            if self._num_cpu_running <= 0:
                raise InternalError("SpeculationBudget.finish_cpu without a matching start")
            self._num_cpu_running -= 1

    def register_yieldable(self, key: Hashable, on_yield: Callable[[], None]) -> None:
        """A running speculative cpu_bound job that may be told to yield: on_yield() must stop
        it (its finish_cpu follows when its future completes)."""
        with self._lock:
            if key in self._yieldable:
                raise InternalError(f"SpeculationBudget: {key!r} registered twice")
            self._yieldable[key] = on_yield

    def unregister_yieldable(self, key: Hashable) -> bool:
        """The job was claimed or ended: it never yields now; False if it was not registered
        (never, already unregistered, or already told to yield)."""
        with self._lock:
            return self._yieldable.pop(key, None) is not None
