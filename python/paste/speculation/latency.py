"""ToolLatency: the tool latencies this deployment actually measures, per call kind.

The predictor's expected latency of a call comes from its training traces (or a family prior
when the traces carry no timings), which need not match the tools this engine runs: the same
`get_watchlist` may take 50 ms against one backend and 400 ms against another. Admission
weighs a candidate by p * min(expected latency, time until emitted), so a wrong latency
rejects calls worth running (or admits ones that are not). Every job the manager starts
(authoritative and speculative) reports its tool seconds here when it succeeds; an estimate is
the exponentially weighted mean of a kind's measurements (weight `alpha` on the newest).

A kind not measured yet gets the caller's prior scaled by how this deployment's tools compare
with their priors so far: the geometric mean, over the kinds that have both, of measured mean /
prior (1 while there are none). Priors from traces without timings are family guesses (an
in-process lookup: 50 ms); when every API here measures 8x slower than its guess, so will the
next one.

A kind is the tool name, and for a `bash` tool the command head too (`bash:cat`, `bash:pytest`):
one shell tool runs calls whose latencies differ by orders of magnitude. Thread-safe.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from paste.errors import InvalidArgumentError
from paste.patterns.bash import bash_kind
from paste.tools.results import ToolResult


def latency_kind(name: str, arguments: Any) -> str:
    """`name`, or `bash:<command head>` for a bash tool's call."""
    if name == "bash" and isinstance(arguments, dict):
        return bash_kind(str(arguments.get("command", "")))
    return name


class ToolLatency:
    def __init__(self, alpha: float = 0.3) -> None:
        if not 0.0 < alpha <= 1.0:
            raise InvalidArgumentError(f"alpha must be in (0, 1], got {alpha!r}")
        self.alpha = alpha
        self._lock = threading.Lock()
        self._mean: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._prior: dict[str, float] = {}  # the last prior given for a kind

    def observe(self, kind: str, seconds: float) -> None:
        """One successful run of a call of `kind` took `seconds` of tool time."""
        if seconds < 0.0:
            raise InvalidArgumentError(f"a tool cannot take {seconds!r} s")
        with self._lock:
            old = self._mean.get(kind)
            self._mean[kind] = seconds if old is None else old + self.alpha * (seconds - old)
            self._count[kind] = self._count.get(kind, 0) + 1

    def observe_result(self, kind: str, result: ToolResult) -> None:
        """A finished job's result: its tool seconds count if it succeeded."""
        if result.ok:
            self.observe(kind, result.tool_s)

    def estimate(self, kind: str, prior: float | None) -> float | None:
        """The measured mean of `kind`; else `prior` times scale() (None stays None)."""
        with self._lock:
            if prior is not None and prior > 0.0:
                self._prior[kind] = prior
            measured = self._mean.get(kind)
            if measured is not None:
                return measured
            return None if prior is None else prior * self._scale()

    def scale(self) -> float:
        """Geometric mean of measured / prior over the kinds that have both (1.0 if none)."""
        with self._lock:
            return self._scale()

    def _scale(self) -> float:
        logs = [math.log(self._mean[k] / p) for k, p in self._prior.items()
                if self._mean.get(k, 0.0) > 0.0]
        return math.exp(sum(logs) / len(logs)) if logs else 1.0

    def count(self, kind: str) -> int:
        with self._lock:
            return self._count.get(kind, 0)
