"""ConcurrencyLane: per-tool admission on a C++ DispatchQueue, enforcing max_concurrency.

Why: a semaphore would park a pool thread per waiting job (and can deadlock a small pool), so
waiting jobs are kept as start callbacks and started by whichever thread frees a slot. The
waiting jobs themselves live in a native two-lane DispatchQueue (paste.core, header
csrc/include/paste/dispatch_queue.h) as job ids: the queue decides the order (authoritative
lane before speculative lane, FIFO per lane: invariant 3, authority first) and the fate of each
queued job (one CAS: popped exactly once or cancelled, never both).

One DispatchQueue per tool, not one for the executor: a slot belongs to one tool, and a shared
queue would hand a freed slot a job of another tool (whose slots may all be taken) that would
then have to be held aside, outside the queue's ordering and cancel.

    submit(job_id, start, speculative)  register start under job_id, push the id into its lane,
                                        then drain
    drain                               while a slot can be taken: take it, pop one job
                                        (authoritative first) and start it; nothing poppable:
                                        give the slot back and stop
    release                             give a slot back, then drain
    withdraw(job_id)                    the queue's cancel: True iff the job will never start
    promote(job_id)                     the queue's promote (speculative -> authoritative tail),
                                        then drain

Nothing is stranded: every push, promote and release is followed by a drain on the same
thread. A drain stops either with every slot taken, and then a later release drains again (the
slot counter's lock orders that release after the push, so its pop sees the job), or after an
empty pop, which can only miss a job whose push or promote has not finished publishing, and
that caller drains after it. Only the slot counter is locked; num_running may count a slot
that a drain holds for the one pop it is doing.

A slot is held from start until the executor calls `release`, i.e. until the work really
stopped: an async task finished or was cancelled, a process exited or was killed, a sync thread
returned (an abandoned, still-running sync thread keeps its slot).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from paste.core import DispatchQueue, Lane
from paste.errors import InternalError, InvalidArgumentError

StartFn = Callable[[], None]

DEFAULT_MAX_QUEUED = 1024


class ConcurrencyLane:
    """Admission for one tool. Thread-safe; start callbacks run outside every lock.

    `max_queued` bounds the waiting jobs of each of the two lanes (rounded up to a power of
    two; a withdrawn job's queue cell counts until a later start passes over it). A push into
    a full lane raises paste.errors.QueueFullError and leaves the lane unchanged.
    """

    def __init__(self, max_concurrency: int, max_queued: int = DEFAULT_MAX_QUEUED) -> None:
        if max_concurrency < 1:
            raise InvalidArgumentError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_queued < 1:
            raise InvalidArgumentError(f"max_queued must be >= 1, got {max_queued}")
        self.max_concurrency = max_concurrency
        self._queue = DispatchQueue(max_queued)
        self._ids = itertools.count()
        self._starts: dict[int, StartFn] = {}
        self._lock = threading.Lock()  # guards _num_running only
        self._num_running = 0

    @property
    def max_queued(self) -> int:
        """Waiting jobs each lane holds (max_queued rounded up to a power of two)."""
        return self._queue.capacity

    @property
    def num_running(self) -> int:
        with self._lock:
            return self._num_running

    @property
    def num_waiting(self) -> int:
        """Queued jobs of both lanes (exact when no call is in flight)."""
        return self._queue.num_queued(Lane.AUTHORITATIVE) + self._queue.num_queued(Lane.SPECULATIVE)

    def new_job_id(self) -> int:
        """A fresh id for submit (ids of one lane never repeat)."""
        return next(self._ids)

    def submit(self, job_id: int, start: StartFn, speculative: bool = False) -> None:
        """Queue start() under job_id and drain: it runs now, on this thread, if a slot is free
        and no earlier job of higher or equal priority waits. Raises QueueFullError when the
        job's lane is full (start is then forgotten and never called)."""
        self._starts[job_id] = start
        try:
            self._queue.push(job_id, Lane.SPECULATIVE if speculative else Lane.AUTHORITATIVE)
        except BaseException:
            del self._starts[job_id]
            raise
        self._drain()

    def withdraw(self, job_id: int) -> bool:
        """Remove a queued job; False if it already started (or was never queued)."""
        if not self._queue.cancel(job_id):
            return False
        del self._starts[job_id]
        return True

    def promote(self, job_id: int) -> bool:
        """Move a queued speculative job to the authoritative lane's tail; False if it is not
        queued speculatively (started, withdrawn, authoritative) or that lane is full."""
        if not self._queue.promote(job_id):
            return False
        self._drain()
        return True

    def lane_of(self, job_id: int) -> Lane | None:
        """Lane of a queued job, None when it is not queued (racy; for tests and metrics)."""
        lane = self._queue.lane_of(job_id)
        return None if lane < 0 else Lane(lane)

    def release(self) -> None:
        """Free one slot, then hand free slots to waiting jobs."""
        with self._lock:
            if self._num_running < 1:
                raise InternalError("ConcurrencyLane.release without a matching start")
            self._num_running -= 1
        self._drain()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if self._num_running >= self.max_concurrency:
                    return
                self._num_running += 1
            popped = self._queue.try_pop()
            if popped is None:
                with self._lock:
                    self._num_running -= 1
                return
            start = self._starts.pop(popped[0], None)
            if start is None:  # the queue popped an id this lane never pushed
                with self._lock:
                    self._num_running -= 1
                raise InternalError(f"ConcurrencyLane popped unknown job id {popped[0]}")
            start()
