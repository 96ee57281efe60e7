"""LiveToolBox: registers one session's live tools with a run log and the oracle's playback.

Every tool function is wrapped twice: the registered function (authoritative runs) and its
`sandbox` (speculative runs of read_only/pure tools; the same function, so the same result and
no more effects). Both append a paste.bench.tools.ToolRun to `runs`, which is how reports and
tests tell speculative runs apart. Authoritative outcomes (value or raised error) are also
appended to `recording` in completion order.

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
    ) -> None:
        """Register `fn` (named, documented and typed as the model should see it); cpu_bound:
        its calls keep a core busy (speculation admits them only while a cpu slot is free)."""
        speculable = EffectClass(effect).is_speculable
        self.registry.add_function(
            self._wrap(fn, effect, speculative=False), effect=effect, timeout_s=timeout_s,
            max_concurrency=max_concurrency, speculation=speculation, cpu_bound=cpu_bound,
            sandbox=self._wrap(fn, effect, speculative=True) if speculable else None,
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
