"""ProcessFitter: a tenant's online fit (PatternStore.fit_online) computed in a child process.

The fit (choosing the control-flow configuration and the next-tool model's weight again, and
refitting the model: history.py) is seconds of pure Python. Run on the server's learning
thread, it holds the GIL, and the engine thread, which gives the GIL up around every torch op,
waits for it at each hand-over: smollm2's decode fell from 43.8 to 15.0 tok/s while fits ran
beside it on a thread, and stayed at 43.8 with them in a child (bench/bench_learning.py). The
fit is a pure function of the store's history and configuration, so it runs in one spawned
worker process (spawned, not forked: the server has threads): the history goes there as JSON
(history.py's compact form), and the result comes back as JSON (the configuration, the
recounted control flow's counts, the model), rebuilt here (history.refresh_json,
OnlineFit.from_json: the child imports paste.patterns only, no torch, no server). The learning
thread waits for it without the GIL.

A fit that raises in the child raises here (the server counts the run as failed and the next
learned run tries again); a worker that died (BrokenProcessPool) is replaced at the next fit.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from paste.patterns.history import OnlineFit, refresh_json
from paste.patterns.store import PatternStore


class ProcessFitter:
    """Fits stores in one spawned worker process, started at the first fit."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def fit(self, store: PatternStore) -> OnlineFit:
        """What store.fit_online() returns, computed in the worker (PatternStoreError without
        a history, as fit_online)."""
        history, config, unknown_rate, mix, complete = store.online_fit_inputs()
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            out = self._pool.submit(refresh_json, history.to_json(), list(config),
                                    unknown_rate, mix, complete).result()
        except BrokenProcessPool:
            self._pool = None  # the worker died: the next fit starts another
            raise
        return OnlineFit.from_json(out)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
