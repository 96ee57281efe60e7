"""SpeculationBudget: one global cap on speculative jobs in flight, across all sessions.

Published measurements found per-session top-k speculation slower than no speculation under
load: the cap must be global. try_acquire() never blocks; release() is called exactly once per
successful acquire, when the job finishes, is cancelled or is promoted to authoritative.
"""

from __future__ import annotations

import threading

from paste.errors import InternalError


class SpeculationBudget:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._in_use = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._in_use

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
