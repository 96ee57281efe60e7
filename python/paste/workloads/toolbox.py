"""LiveToolBox: registers one session's live tools with a run log and the oracle's playback.

Every tool function is wrapped twice: the registered function (authoritative runs) and its
`sandbox` (speculative runs of read_only/pure tools; the same function, so the same result and
no more effects). Both append a paste.bench.tools.ToolRun to `runs`, which is how reports and
tests tell speculative runs apart. Authoritative outcomes (value or raised error) are also
appended to `recording` in completion order.

A side-effecting tool may also have a transaction (paste.tools.transaction: the call's result
computed on a private copy, its effects staged). Its private run is logged like a sandbox run
(speculative=True); the commit of its Staged, once it succeeded, is logged as a
non-speculative run with commit=True (as paste.bench.tools does), so the log's committed side
effects compare with a serial run's. Neither goes to `recording`: only the real tool's
outcomes do.

Oracle mode (`playback` given): an authoritative call returns, at once and without running,
the recorded outcome of the first recorded occurrence of the same canonical call at or after
the session's position (tool results committed so far; `position` is set by the runner). The
scripted agents and the tools are deterministic, so the serial run's recording is exactly what
the call would return. A call never recorded there runs for real.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from paste.bench.tools import ToolRun
from paste.parsing import canonical_call
from paste.tools import SpeculationPolicy, ToolRegistry
from paste.tools.spec import EffectClass
from paste.tools.transaction import Staged, Transaction

Outcome = tuple[str, Any]  # ("ok", value) or ("error", the exception raised)


class LiveToolBox:
    def __init__(self, playback: list[tuple[str, Outcome]] | None = None) -> None:
        self.registry = ToolRegistry()
        self.runs: list[ToolRun] = []
        self.recording: list[tuple[str, Outcome]] = []
        self.position: Callable[[], int] = lambda: 0
        self._playback = playback
        self._lock = threading.Lock()

    def add(
        self,
        fn: Callable[..., Any],
        effect: str,
        timeout_s: float = 60.0,
        speculation: SpeculationPolicy | None = None,
        max_concurrency: int = 8,
        cpu_bound: bool = False,
        transaction: Transaction | None = None,
    ) -> None:
        """Register `fn` (named, documented and typed as the model should see it); cpu_bound:
        its calls keep a core busy (speculation admits them only while a cpu slot is free);
        transaction: fn's transaction (same parameters, returns a Staged), logged as the module
        docstring says."""
        speculable = EffectClass(effect).is_speculable
        self.registry.add_function(
            self._wrap(fn, effect, speculative=False), effect=effect, timeout_s=timeout_s,
            max_concurrency=max_concurrency, speculation=speculation, cpu_bound=cpu_bound,
            sandbox=self._wrap(fn, effect, speculative=True) if speculable else None,
            transaction=(self._stage(fn.__name__, transaction, effect)
                         if transaction is not None else None),
        )  # fmt: skip

    def _wrap(self, fn: Callable[..., Any], effect: str, speculative: bool) -> Callable[..., Any]:
        name = fn.__name__

        @functools.wraps(fn)
        def run(**kwargs: Any) -> Any:
            canonical = canonical_call(name, kwargs)
            if not speculative and self._playback is not None:
                found = self._find(canonical)
                if found is not None:
                    return _unpack(found)
            started = time.monotonic()
            try:
                outcome: Outcome = ("ok", fn(**kwargs))
            except Exception as exc:  # recorded, then raised to the executor as it was
                outcome = ("error", exc)
            with self._lock:
                self.runs.append(
                    ToolRun(name, canonical, effect, speculative, started, time.monotonic())
                )
                if not speculative:
                    self.recording.append((canonical, outcome))
            return _unpack(outcome)

        return run

    def _stage(self, name: str, transaction: Transaction, effect: str) -> Transaction:
        """`transaction` logging its private run and, through the Staged it returns, its
        commit. A value that is not a Staged is passed on (the executor reports it)."""

        @functools.wraps(transaction)
        def stage(**kwargs: Any) -> Any:
            canonical = canonical_call(name, kwargs)
            started = time.monotonic()
            try:
                staged = transaction(**kwargs)
            finally:  # logged whether it staged or raised; an error propagates unchanged
                self._log(ToolRun(name, canonical, effect, True, started, time.monotonic()))
            if not isinstance(staged, Staged):
                return staged

            def commit() -> None:
                began = time.monotonic()
                staged.commit()  # raises (and discards the effects) if the commit failed
                self._log(ToolRun(name, canonical, effect, False, began, time.monotonic(),
                                  commit=True))

            return Staged(staged.value, commit, staged.discard)

        return stage

    def _log(self, run: ToolRun) -> None:
        with self._lock:
            self.runs.append(run)

    def _find(self, canonical: str) -> Outcome | None:
        assert self._playback is not None
        for recorded, outcome in self._playback[self.position() :]:
            if recorded == canonical:
                return outcome
        return None


def _unpack(outcome: Outcome) -> Any:
    kind, value = outcome
    if kind == "error":
        raise value
    return value
