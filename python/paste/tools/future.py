"""ToolFuture: the handle ToolExecutor.submit returns; completes exactly once with a ToolResult.

Completion is first-writer-wins: a late result from an abandoned thread, a timeout that races a
finishing tool, or a cancel after completion are all dropped by `_complete` returning False.
Done callbacks run once, on the thread that completed the future (or immediately on the caller's
thread when added after completion); an exception from a callback is logged, never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from paste.tools.errors import ToolWaitTimeoutError
from paste.tools.results import ToolJob, ToolResult
from paste.tools.transaction import Staged

logger = logging.getLogger(__name__)


class ToolFuture:
    """Result slot of one ToolJob. Thread-safe; never raises the tool's own errors."""

    def __init__(self, job: ToolJob, submitted_at: float) -> None:
        self.job = job
        self.submitted_at = submitted_at
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._result: ToolResult | None = None
        self._callbacks: list[Callable[[ToolFuture], None]] = []
        self._canceller: Callable[[], bool] | None = None
        self._withdrawer: Callable[[], bool] | None = None
        self._promoter: Callable[[], bool] | None = None
        self._started_at: float | None = None  # time.monotonic() when it began running
        self._effects: Staged | None = None  # a transaction's staged effects (ok results only)

    @property
    def call_id(self) -> str:
        return self.job.call_id

    def done(self) -> bool:
        return self._done.is_set()

    def started(self) -> bool:
        """True once the job left its queue and began running (or ended)."""
        return self._started_at is not None or self._done.is_set()

    def tool_time(self, now: float | None = None) -> float:
        """Seconds of tool time so far: 0 while queued, the time it has been running (to
        `now`, time.monotonic() by default), or its result's tool_s once done."""
        if self._done.is_set():
            assert self._result is not None  # set before _done
            return self._result.tool_s
        started = self._started_at
        if started is None:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - started)

    def result(self, timeout: float | None = None) -> ToolResult:
        """Block until done (at most `timeout` seconds); raise ToolWaitTimeoutError if not done."""
        if not self._done.wait(timeout):
            raise ToolWaitTimeoutError(f"call {self.job.call_id!r} not done after {timeout} s")
        assert self._result is not None  # set before _done
        return self._result

    def add_done_callback(self, fn: Callable[[ToolFuture], None]) -> None:
        """Call fn(self) once when done (now, on this thread, if already done)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(fn)
                return
        self._run_callback(fn)

    def cancel(self) -> bool:
        """End the job with error_kind "cancelled" unless it is already done.

        A queued job never starts; a running async job's task is cancelled; a process job's
        worker is killed; a running sync thread cannot be stopped, its result is discarded.
        A transactional job's staged effects that nobody took are discarded, done or not.
        Returns True if this call ended the job.
        """
        with self._lock:
            canceller = None if self._done.is_set() else self._canceller
        ended = canceller() if canceller is not None else False
        self.discard_effects()  # after the canceller: the job may have finished meanwhile
        return ended

    def take_effects(self) -> Staged | None:
        """The staged effects of a finished transactional job (paste.tools.transaction), once:
        whoever takes them must commit or discard them; None for any other job."""
        with self._lock:
            effects, self._effects = self._effects, None
        return effects

    def discard_effects(self) -> None:
        """Discard this job's staged effects if nobody took them (a no-op otherwise)."""
        effects = self.take_effects()
        if effects is not None:
            effects.discard()

    # -- executor side ---------------------------------------------------------------------

    def _mark_started(self, at: float) -> None:
        self._started_at = at

    def withdraw(self) -> bool:
        """Cancel only if the job has not started yet (no race with its start); True if this
        call withdrew it. A started or finished job is left alone."""
        with self._lock:
            withdrawer = self._withdrawer
            if self._done.is_set() or withdrawer is None:
                return False
        return withdrawer()

    def promote(self) -> bool:
        """Move a queued speculative job to its tool's authoritative lane, in place: it keeps
        its call id and this future, and starts before every speculative job still queued.
        True if moved; False once started or done, for an authoritative job, and for a job
        that would run the tool's sandbox."""
        with self._lock:
            promoter = self._promoter
            if self._done.is_set() or promoter is None:
                return False
        return promoter()

    def _set_promoter(self, promoter: Callable[[], bool]) -> None:
        with self._lock:
            self._promoter = promoter

    def _set_withdrawer(self, withdrawer: Callable[[], bool]) -> None:
        with self._lock:
            self._withdrawer = withdrawer

    def _set_canceller(self, canceller: Callable[[], bool]) -> None:
        with self._lock:
            self._canceller = canceller

    def _complete(self, result: ToolResult, effects: Staged | None = None) -> bool:
        """Store result (and a transaction's staged effects) and fire callbacks if not done
        yet; False if someone completed first (the caller then discards `effects`)."""
        with self._lock:
            if self._done.is_set():
                return False
            self._result = result
            self._effects = effects
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            self._run_callback(fn)
        return True

    def _run_callback(self, fn: Callable[[ToolFuture], None]) -> None:
        try:
            fn(self)
        except Exception:
            logger.exception("done callback of tool call %r raised", self.job.call_id)
