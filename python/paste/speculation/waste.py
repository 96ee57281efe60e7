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

Cut: a job is launched for a position in its session, the next call (or, chained, the one
after); once the model has emitted the call of that position and it was another one, the job
is passed over (`pass_over`): it may still be used later, but is far less likely to be than
its admission probability says, and while it runs it adds to the waste. So whenever the
realized waste plus the tool time every job bound to the budget (`bind`: its tool time so
far, and how to cancel it) has run so far exceeds max_ratio * used, every passed-over job
still running is cancelled; its time so far is waste. A job of probability 1 is never cut
(it risks nothing), nor one that already ended (its time is spent). A watchdog thread
checks every `poll_s` seconds while passed-over jobs are in flight (`enforce` runs one check).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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
    probability: float = 0.0  # the job's predicted probability of being used


POLL_S = 0.02  # watchdog period while passed-over jobs are in flight


class Timed(Protocol):
    """What the cut reads of a job in flight (a ToolFuture is one)."""

    def tool_time(self, now: float | None = None) -> float: ...

    def done(self) -> bool: ...


class WasteBudget:
    def __init__(self, max_ratio: float | None = 0.5, poll_s: float | None = POLL_S) -> None:
        """`poll_s` None: no watchdog thread (the owner calls `enforce`)."""
        check_max_waste_ratio(max_ratio)
        if poll_s is not None and not (isinstance(poll_s, int | float) and poll_s > 0):
            raise InvalidArgumentError(f"poll_s must be a number > 0 or None, got {poll_s!r}")
        self.max_ratio = max_ratio
        self.poll_s = poll_s
        self._bound: dict[Reservation, tuple[Timed, Callable[[], None]]] = {}
        self._cut = 0
        self._passed: set[Reservation] = set()
        self._watchdog: threading.Thread | None = None
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
        res = Reservation(risk, owner, (1.0 - p) * risk, p)
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

    def bind(self, res: Reservation | None, job: Timed, cancel: Callable[[], None]) -> None:
        """Subject the admitted job of `res` to the cut (module docstring): `job.tool_time(now)`
        is its tool time so far, `cancel()` ends it (and settles `res` as waste). A no-op for
        None, without a bound, or once `res` is settled."""
        if res is None or self.max_ratio is None:
            return
        with self._lock:
            if res not in self._open:
                return
            self._bound[res] = (job, cancel)

    def pass_over(self, res: Reservation | None) -> None:
        """The job of `res` was passed over (module docstring): the cut may cancel it. A
        no-op unless it is bound and unsettled, and for a job of probability 1."""
        with self._lock:
            if res is None or res not in self._bound or res.probability >= 1.0:
                return
            self._passed.add(res)
            if self.poll_s is not None and self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                                  name="paste-waste-watchdog")
                self._watchdog.start()

    def enforce(self, now: float | None = None) -> int:
        """One check of the cut (module docstring) at `now` (time.monotonic() by default): if
        the realized waste plus what every bound job ran so far is over the bound, cancels every passed-over job still running;
        returns how many it cancelled."""
        victims: list[Callable[[], None]] = []
        with self._lock:
            if self.max_ratio is None or not self._passed:
                return 0
            at = time.monotonic() if now is None else now
            ran = sum(max(0.0, job.tool_time(at)) for job, _c in self._bound.values())
            if self._wasted + ran <= self.max_ratio * self._used:
                return 0
            for res in list(self._passed):
                job, cancel = self._bound[res]
                if not job.done():
                    del self._bound[res]
                    self._passed.discard(res)
                    victims.append(cancel)
            self._cut += len(victims)
        for cancel in victims:  # outside the lock: a cancel settles its reservation
            cancel()
        return len(victims)

    def _watch(self) -> None:
        assert self.poll_s is not None
        while True:
            time.sleep(self.poll_s)
            with self._lock:  # a job that ended can no longer be cut: stop watching it
                self._passed = {r for r in self._passed if not self._bound[r][0].done()}
                if not self._passed:
                    self._watchdog = None
                    return
            self.enforce()

    def settle(self, res: Reservation | None, wasted_s: float = 0.0,
               ran_out: bool = True) -> None:
        """A job's outcome is known: its reservation (None: it had none) ends, and wasted_s
        (its tool time if its result was never used, else 0) is realized waste. `ran_out`
        False: a cancel cut the job short, so its time is waste but says nothing of how long
        wasted jobs run (it stays out of the overrun). Settling a reservation twice changes
        nothing the second time but the waste."""
        with self._lock:
            if res is not None:
                self._bound.pop(res, None)
                self._passed.discard(res)
            if res in self._open:
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
                    "in_flight": len(self._open), "overrun": self._overrun(),
                    "cut": self._cut}

    def _overrun(self) -> float:
        """Realized waste / reserved latency of the wasted jobs, at least 1 (lock held)."""
        if self._overrun_risk <= 0.0:
            return 1.0
        return max(1.0, self._overrun_wasted / self._overrun_risk)

    def _at_risk(self) -> float:
        """Expected latency of the jobs in flight (the lock is held; a few dozen at most)."""
        return sum(r.risk_s for r in self._open)
