"""BatchSlots: the SimulatedEngine's batch capacity: at most `capacity` sequences decode at once.

A model server batches at most max_num_seqs sequences per step; beyond that, requests wait
in its scheduler and are admitted by priority (higher first, then arrival order), which is
where co-scheduling matters. `acquire` blocks until a slot is granted (or the abort event is
set: False); `release` hands the slot straight to the best waiting request. capacity None:
unlimited (no saturation modelled).
"""

from __future__ import annotations

import heapq
import itertools
import threading

from paste.errors import InvalidArgumentError


class BatchSlots:
    def __init__(self, capacity: int | None) -> None:
        if capacity is not None and capacity < 1:
            raise InvalidArgumentError(f"batch capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._cond = threading.Condition()
        self._running = 0
        self._waiting: list[tuple[float, int]] = []  # (-priority, arrival)
        self._granted: set[int] = set()
        self._arrivals = itertools.count()
        self.max_waiting = 0  # most requests ever waiting at once (how saturated a run was)

    @property
    def num_running(self) -> int:
        with self._cond:
            return self._running

    def acquire(self, priority: float, abort: threading.Event) -> bool:
        """Blocks until this request may decode; False if `abort` was set first."""
        if self.capacity is None:
            return True
        with self._cond:
            if self._running < self.capacity and not self._waiting:
                self._running += 1
                return True
            ticket = next(self._arrivals)
            heapq.heappush(self._waiting, (-priority, ticket))
            self.max_waiting = max(self.max_waiting, len(self._waiting))
            while ticket not in self._granted:
                if abort.is_set():
                    self._waiting.remove((-priority, ticket))
                    heapq.heapify(self._waiting)
                    return False
                self._cond.wait(0.05)
            self._granted.discard(ticket)
            return True

    def release(self) -> None:
        if self.capacity is None:
            return
        with self._cond:
            if self._waiting:
                _, ticket = heapq.heappop(self._waiting)
                self._granted.add(ticket)  # the slot passes on: _running is unchanged
                self._cond.notify_all()
            else:
                self._running -= 1
