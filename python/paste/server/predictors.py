"""TenantPredictors: one PatternStore and Predictor per tenant, loaded from a file or learned
online from the server's completed session runs.

    store file (`paste patterns mine --out FILE`)  -> the predictor of the file's tenant
    every completed run of a session with tools    -> PatternStore.update for its tenant
                                                      (a tenant without a store gets a new one)
    pattern directory (`--pattern-dir DIR`)        -> every DIR/*.json store is loaded at start,
                                                      and a tenant's store is saved there once
                                                      it learned a run (so a restarted server
                                                      keeps what it learned), at most once per
                                                      save interval, and at close

A run is learned as its own trace: its user message, calls, results and final answer (earlier
runs of the session are not repeated, so nothing is counted twice); its group is the session
id, so runs of one session count as one task group (PatternStore.min_groups). Updates run on
one worker thread; a tenant's lock serialises them with that tenant's predictions, so a
session never predicts from a store being updated. When a run makes the store's next-tool
model due for a refit, or its control-flow configuration and the model's weight for a new
choice (history.py), the worker has them computed outside the lock, in a child process
(fitting.py: seconds of Python on a thread would slow the engine's own thread about 3x), and
installs them under it, so predictions are not held up by the fit; a new tenant's store gets
them this way at its 8th learned run. Tenant isolation: a session only ever gets the predictor
of its own tenant (predictor_for), and a store refuses another tenant's trace.

Saving: DIR/<tenant, percent-encoded>.json, written to a temporary file and renamed by the
update worker (the store's only writer), so predictions are not held up by the write. A
tenant's first learned run is saved at once; later ones are saved by the first learned run
after `save_interval_s` since the tenant's last save, or by a flush the worker runs that long
after a run was left unsaved, and close() saves what is still unsaved (a mined coding-agent
store is 13 MB: saving it after every run would cost a core at a few runs a second). 0 saves
after every run. A store that cannot be saved stays learned in memory, is counted
(num_failed_saves, last_error) and is saved again by the next run or flush. Loading a
directory refuses (PatternStoreError, naming the file) an unreadable store and a tenant that
two of its files define; a tenant's store in the directory replaces the store file's (it is
that store plus what was learned).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paste.patterns.errors import PatternStoreError
from paste.patterns.loaders.openai_messages import messages_to_trace
from paste.patterns.predictor import Prediction, Predictor
from paste.patterns.state import SessionState
from paste.patterns.store import PatternStore
from paste.patterns.trace import LoadIssue, Trace
from paste.server.fitting import ProcessFitter

SOURCE = "paste-server"
SAVE_INTERVAL_S = 30.0  # the default least time between two saves of a tenant's store


class LockedPredictor:
    """A tenant's Predictor behind the tenant's lock (predictions never see a half update)."""

    def __init__(self, predictor: Predictor, lock: threading.Lock) -> None:
        self.predictor, self.lock = predictor, lock

    def predict(self, state: SessionState, k: int = 5,
                allow: Callable[[str], bool] | None = None,
                tool: str | None = None) -> list[Prediction]:
        with self.lock:
            return self.predictor.predict(state, k, allow=allow, tool=tool)


class TenantPredictors:
    def __init__(self, store_path: str | Path | None = None, learn_online: bool = True,
                 store_dir: str | Path | None = None,
                 save_interval_s: float = SAVE_INTERVAL_S, fit_process: bool = True) -> None:
        """Raises PatternStoreError if `store_path` or a store in `store_dir` cannot be read,
        or two of them are stores of one tenant; `store_dir` is created if missing.
        `fit_process`: online fits run in a child process (fitting.py), else on the
        learning thread."""
        self.learn_online = learn_online
        self._fitter = ProcessFitter() if fit_process else None
        self.save_interval_s = save_interval_s
        # worker thread only (then close): each tenant's last save (monotonic s), the tenants
        # learned since their last save, and the timer of the next flush
        self._saved_at: dict[str, float] = {}
        self._unsaved: set[str] = set()
        self._flush_timer: threading.Timer | None = None
        self.num_learned_runs = 0  # runs whose update has finished
        self.num_failed_runs = 0  # runs whose update raised (last_error says why)
        self.num_failed_saves = 0  # learned runs whose store could not be saved to store_dir
        self.last_error: str | None = None
        self.store_dir = Path(store_dir) if store_dir is not None else None
        self._lock = threading.Lock()  # guards the map and the counters
        self._tenants: dict[str, tuple[PatternStore, LockedPredictor]] = {}
        self._worker = concurrent.futures.ThreadPoolExecutor(1, "paste-patterns")
        if store_path is not None:
            self._publish(PatternStore.load(Path(store_path)))
        if self.store_dir is not None:
            try:
                self.store_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PatternStoreError(f"{self.store_dir}: cannot create ({exc})") from exc
            origin: dict[str, Path] = {}
            for path in sorted(self.store_dir.glob("*.json")):
                store = PatternStore.load(path)
                if store.tenant in origin:
                    raise PatternStoreError(f"{path}: tenant {store.tenant!r} is already "
                                            f"defined by {origin[store.tenant]}")  # fmt: skip
                origin[store.tenant] = path
                self._publish(store)

    def _publish(self, store: PatternStore) -> None:
        locked = LockedPredictor(Predictor(store), threading.Lock())
        with self._lock:
            self._tenants[store.tenant] = (store, locked)

    def predictor_for(self, tenant: str) -> LockedPredictor | None:
        """The tenant's predictor, or None while nothing is known about the tenant."""
        with self._lock:
            entry = self._tenants.get(tenant)
        return entry[1] if entry is not None else None

    def tenants(self) -> list[str]:
        with self._lock:
            return sorted(self._tenants)

    def learn(self, session: Any, start: int) -> concurrent.futures.Future[bool] | None:
        """Schedules the update from the run whose user message is session.messages[start];
        None when online learning is off. The future's value: whether the run was learned (a
        run without tool calls teaches nothing)."""
        if not self.learn_online:
            return None
        record = session.trace()  # a copy, taken now: later runs do not leak into this one
        return self._worker.submit(self._update, record, start)

    def _update(self, record: dict[str, Any], start: int) -> bool:
        try:
            return self._learn(record, start)
        except Exception as exc:  # noqa: BLE001 - a run that cannot be learned is only counted
            with self._lock:
                self.num_failed_runs += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            return False

    def _learn(self, record: dict[str, Any], start: int) -> bool:
        trace = run_trace(record, start)
        if trace is None or not any(step.call is not None for step in trace.steps):
            return False
        with self._lock:
            entry = self._tenants.get(trace.tenant)
        if entry is None:  # a new tenant: its store is published once it holds this run
            store = PatternStore(trace.tenant)
            store.update(trace)
            self._publish(store)
            self._learned(store)
        else:
            store, locked = entry
            with locked.lock:
                store.update(trace, refit=False)
                locked.predictor.refresh()
            if store.refresh_due():  # fitted outside the lock: predictions go on
                # this worker is the store's only writer; a fit in a child process leaves the
                # GIL to the engine (fitting.py)
                fit = store.fit_online() if self._fitter is None else self._fitter.fit(store)
                with locked.lock:
                    store.set_online(fit)
                    locked.predictor.refresh()
            self._learned(store)  # outside the lock: this worker is the store's only writer
        with self._lock:
            self.num_learned_runs += 1
        return True

    def store_file(self, tenant: str) -> Path | None:
        """Where `tenant`'s store is saved (None without a store directory)."""
        if self.store_dir is None:
            return None
        name = urllib.parse.quote(tenant, safe="")
        if len(name) > 180 or name.startswith("."):  # file-name limits; no hidden files
            name = "t-" + hashlib.sha256(tenant.encode()).hexdigest()
        return self.store_dir / f"{name}.json"

    def _learned(self, store: PatternStore) -> None:
        """After a learned run (worker thread): save the store now, or leave it to a flush
        within the save interval (module docstring)."""
        if self.store_dir is None:
            return
        last = self._saved_at.get(store.tenant)
        if last is None or time.monotonic() - last >= self.save_interval_s:
            self._save(store)
            return
        self._unsaved.add(store.tenant)
        if self._flush_timer is None:
            self._flush_timer = threading.Timer(
                self.save_interval_s - (time.monotonic() - last), self._submit_flush)
            self._flush_timer.daemon = True
            self._flush_timer.start()

    def _submit_flush(self) -> None:
        try:
            self._worker.submit(self._flush)
        except RuntimeError:  # shut down: close() saves what is unsaved
            pass

    def _flush(self) -> None:
        """Save every tenant's store left unsaved (worker thread, or close once it stopped)."""
        self._flush_timer = None
        for tenant in sorted(self._unsaved):
            with self._lock:
                entry = self._tenants.get(tenant)
            if entry is not None:
                self._save(entry[0])

    def _save(self, store: PatternStore) -> None:
        path = self.store_file(store.tenant)
        if path is None:
            return
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            store.save(tmp)
            os.replace(tmp, path)
        except OSError as exc:
            self._unsaved.add(store.tenant)  # saved again by the next run or flush
            with self._lock:
                self.num_failed_saves += 1
                self.last_error = f"cannot save {path}: {exc}"
            return
        self._saved_at[store.tenant] = time.monotonic()
        self._unsaved.discard(store.tenant)

    def close(self) -> None:
        """Stops the update worker (runs not yet learned are dropped; the one being learned
        finishes), then saves every store still unsaved."""
        self._worker.shutdown(wait=True, cancel_futures=True)
        if self._fitter is not None:
            self._fitter.close()
        timer = self._flush_timer
        if timer is not None:
            timer.cancel()
        self._flush()


def run_trace(record: dict[str, Any], start: int) -> Trace | None:
    """The Trace of one run of a session record (paste trace format, session/trace.py): the
    messages from index `start` on, grouped under the session id; None if malformed."""
    issues: list[LoadIssue] = []
    sid = str(record["session_id"])
    trace = messages_to_trace(f"{sid}#{start}", SOURCE, record["messages"][start:], sid,
                              issues, record.get("timings") or {})  # fmt: skip
    if trace is None:
        return None
    if trace.steps and trace.steps[-1].role == "assistant" and trace.steps[-1].call is None:
        trace.final_answer = trace.steps.pop().text
    trace.tenant, trace.group = str(record.get("tenant") or "default"), sid
    trace.env = record.get("environment")  # as opened (a later run's tools may have changed it)
    return trace
