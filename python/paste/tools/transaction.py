"""Transactions: how a side-effecting tool runs speculatively without touching the world.

A tool may supply `transaction(**kwargs) -> Staged` beside its function. For a speculative job
of a call that is not pure/read_only, the executor runs the transaction instead of the tool: it
computes the call's result on a private copy of the state the call would change (a scratch copy
of a working tree, a deep copy of an in-process API object) and returns that result together
with two actions:

    commit()    make the staged effects real (called at most once, only on a hit: the model
                emitted the same call and the session ran no other side effect since the job
                was staged); must leave the state exactly as running the call would have
    discard()   drop them (a miss, a stale or failed job, a cancelled one); must not raise

Whatever the outcome, exactly one of the two runs for every Staged the executor receives
(a Staged that arrives after its job was cancelled is discarded by the executor). A commit that
raises counts as a failed speculation: the call is then run for real, so commit must be atomic
(all or nothing). Transactions run in the executor's thread or event loop (their actions are
closures, so isolation="process" cannot have one).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Transaction = Callable[..., Any]
"""transaction(**kwargs) -> Staged (or an awaitable of one, for an async tool)."""


class Staged:
    """A speculative call's result and its private effects, waiting for commit or discard."""

    def __init__(self, value: Any, commit: Callable[[], None],
                 discard: Callable[[], None] | None = None) -> None:
        self.value = value
        self._commit, self._discard = commit, discard
        self._lock = threading.Lock()
        self.state = "staged"  # -> "committed" | "discarded"

    def commit(self) -> None:
        """Apply the effects; raises what the tool's commit raised (the effects then count as
        discarded) and RuntimeError if already committed or discarded."""
        self._settle("committed")
        try:
            self._commit()
        except BaseException:
            self.state = "discarded"
            self._run_discard()
            raise

    def discard(self) -> None:
        """Drop the effects; a no-op once settled. Errors of the tool's discard are logged."""
        try:
            self._settle("discarded")
        except RuntimeError:
            return
        self._run_discard()

    def _run_discard(self) -> None:
        if self._discard is not None:
            try:
                self._discard()
            except Exception:
                logger.exception("discarding staged effects raised")

    def _settle(self, state: str) -> None:
        with self._lock:
            if self.state != "staged":
                raise RuntimeError(f"staged effects already {self.state}")
            self.state = state
