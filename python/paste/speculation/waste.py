"""WasteBudget: speculation may waste at most `max_ratio` tool-seconds per tool-second used.

A speculative job whose result is never used costs its tool time (and, for remote tools, load
on someone else's service). Admission's value check prices that waste per candidate, on the
predicted probability; this budget bounds it in total, whatever the probabilities, across
every session sharing it (one per engine, like the SpeculationBudget). A job of expected
latency L is admitted iff

    wasted + at_risk + L <= max_ratio * used

  used     tool-seconds of results the sessions consumed (authoritative calls and hits)
  wasted   tool-seconds of speculative results that were never used (realized waste)
  at_risk  the expected latencies of the speculative jobs still in flight, reserved at
           admission and released when the model's call claims the job or it is discarded
           (then its real tool time becomes waste)

so every job in flight is counted as if it will be wasted: a miscalibrated predictor cannot
overspend. Start: a session with nothing in flight may have one job admitted as long as the
realized waste plus the EXPECTED waste of the jobs in flight is within the budget

    wasted + sum over in-flight jobs of (1 - p) * L <= max_ratio * used

(p: the job's predicted probability of being used), so every session can begin speculating
before any tool time was used on calls it is sure of (p = 1 risks nothing), a session's
start does not ride on other sessions' doubtful jobs still in flight, and a spent budget stops
all of them until used time catches up (the realized ratio can exceed max_ratio by at most
one job per session in flight, and by jobs that run longer than the measured overrun below
predicts). `max_ratio` None disables the bound.

Overrun: a reservation is a job's EXPECTED latency, and the jobs that end up wasted can run
far longer (heavy-tailed tools; an estimate still at its prior). So the budget measures, over
the settled jobs that wasted tool time and ran to their end (a job a cancel cut short wastes
the time it ran, but its length says nothing of how long jobs run), realized waste / their
reserved latencies, and scales
every job at risk and every expected waste in both rules by that ratio (never below 1: a job
is never counted at less than its expected latency; 1 until some job was wasted). A deployment
whose wasted jobs ran twice as long as expected admits as if every job will.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from paste.errors import InvalidArgumentError


def check_max_waste_ratio(ratio: float | None, name: str = "max_waste_ratio") -> None:
    """InvalidArgumentError (naming the setting `name`) unless ratio is None or a finite
    number >= 0."""
    if ratio is None:
        return
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) \
            or not math.isfinite(ratio) or ratio < 0:
        raise InvalidArgumentError(
            f"{name} must be a finite number >= 0 or None, got {ratio!r}")


@dataclass(frozen=True, eq=False)
class Reservation:
    """One admitted job's expected latency, counted at risk until it is settled (once)."""

    risk_s: float
    owner: str = ""  # the session it speculates for
    expected_waste_s: float = 0.0  # (1 - p) * risk_s


class WasteBudget:
    def __init__(self, max_ratio: float | None = 0.5) -> None:
        check_max_waste_ratio(max_ratio)
        self.max_ratio = max_ratio
        self._used = 0.0
        self._wasted = 0.0
        self._open: set[Reservation] = set()  # not settled yet (identity: eq=False)
        self._lock = threading.Lock()
        self._overrun_wasted = 0.0  # realized waste of the settled wasted jobs
        self._overrun_risk = 0.0  # their reserved latencies

    def try_reserve(self, latency_s: float, owner: str = "",
                    probability: float = 0.0) -> Reservation | None:
        """Admit a job for session `owner` expected to run latency_s seconds and to be used
        with `probability` (0, the default, assumes it will not be): its Reservation, or None
        (nothing reserved). Never None without a bound."""
        risk = max(0.0, float(latency_s))
        p = min(1.0, max(0.0, float(probability)))
        res = Reservation(risk, owner, (1.0 - p) * risk)
        with self._lock:
            if self.max_ratio is not None:
                allowed = self.max_ratio * self._used
                scale = self._overrun()
                fits = self._wasted + scale * (self._at_risk() + res.risk_s) <= allowed
                expected = sum(r.expected_waste_s for r in self._open)
                first = all(r.owner != owner for r in self._open) and (
                    self._wasted + scale * expected <= allowed)
                if not (fits or first):
                    return None
            self._open.add(res)
            return res

    def settle(self, res: Reservation | None, wasted_s: float = 0.0,
               ran_out: bool = True) -> None:
        """A job's outcome is known: its reservation (None: it had none) ends, and wasted_s
        (its tool time if its result was never used, else 0) is realized waste. `ran_out`
        False: a cancel cut the job short, so its time is waste but says nothing of how long
        wasted jobs run (it stays out of the overrun). Settling a reservation twice changes
        nothing the second time but the waste."""
        with self._lock:
            if res is not None and res in self._open:
                self._open.discard(res)
                if ran_out and wasted_s > 0.0 and res.risk_s > 0.0:
                    self._overrun_wasted += wasted_s
                    self._overrun_risk += res.risk_s
            self._wasted += max(0.0, wasted_s)

    def add_used(self, tool_s: float) -> None:
        """A session consumed a result that took tool_s seconds of tool time."""
        with self._lock:
            self._used += max(0.0, tool_s)

    def snapshot(self) -> dict[str, float | int | None]:
        with self._lock:
            return {"max_ratio": self.max_ratio, "used_s": self._used,
                    "wasted_s": self._wasted, "at_risk_s": self._at_risk(),
                    "in_flight": len(self._open), "overrun": self._overrun()}

    def _overrun(self) -> float:
        """Realized waste / reserved latency of the wasted jobs, at least 1 (lock held)."""
        if self._overrun_risk <= 0.0:
            return 1.0
        return max(1.0, self._overrun_wasted / self._overrun_risk)

    def _at_risk(self) -> float:
        """Expected latency of the jobs in flight (the lock is held; a few dozen at most)."""
        return sum(r.risk_s for r in self._open)
