"""ConcurrencyLane: per-tool admission that enforces max_concurrency without blocking threads.

A semaphore would park a pool thread per waiting job (and can deadlock a small pool); the lane
instead keeps waiting jobs as start callbacks. `submit` starts a job at once when a slot is free,
otherwise queues it; `release` frees a slot and starts the next waiting job. Authoritative jobs
wait in their own queue and always start before speculative ones (invariant 3, authority first).

A slot is held from start until the executor calls `release`, i.e. until the work really
stopped: an async task finished or was cancelled, a process exited or was killed, a sync thread
returned (an abandoned, still-running sync thread keeps its slot).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from paste.errors import InvalidArgumentError

StartFn = Callable[[], None]


class ConcurrencyLane:
    """Admission for one tool. Thread-safe; start callbacks run outside the lock."""

    def __init__(self, max_concurrency: int) -> None:
        if max_concurrency < 1:
            raise InvalidArgumentError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency
        self._lock = threading.Lock()
        self._num_running = 0
        self._authoritative: collections.deque[StartFn] = collections.deque()
        self._speculative: collections.deque[StartFn] = collections.deque()

    @property
    def num_running(self) -> int:
        with self._lock:
            return self._num_running

    @property
    def num_waiting(self) -> int:
        with self._lock:
            return len(self._authoritative) + len(self._speculative)

    def submit(self, start: StartFn, speculative: bool = False) -> None:
        """Run start() now if a slot is free (taking it), else queue it."""
        with self._lock:
            if self._num_running >= self.max_concurrency:
                (self._speculative if speculative else self._authoritative).append(start)
                return
            self._num_running += 1
        start()

    def withdraw(self, start: StartFn) -> bool:
        """Remove a queued start callback; False if it already started (or was never queued)."""
        with self._lock:
            for queue in (self._authoritative, self._speculative):
                try:
                    queue.remove(start)
                    return True
                except ValueError:
                    continue
        return False

    def release(self) -> None:
        """Free one slot; hand it straight to the next waiting job, if any."""
        with self._lock:
            if self._authoritative:
                start = self._authoritative.popleft()
            elif self._speculative:
                start = self._speculative.popleft()
            else:
                self._num_running -= 1
                return
        start()
