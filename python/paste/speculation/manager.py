"""SpeculationManager: launches predicted calls and turns the model's real calls into hits.

    speculate(session, candidates)   admitted candidates become speculative jobs (executor's
                                     speculative lane) staged under (session, canonical call)
    resolve(session, call)           an authoritative call: if a fresh staged job matches it
                                       done    -> its result is reused at once        (reused)
                                       running -> it is awaited                       (awaited)
                                       queued  -> it is cancelled and the call runs in the
                                                  authoritative lane now              (promoted)
                                     otherwise the call runs authoritatively          (miss)
    promote_early(session, cand)     the engine's trie CONFIRMED the call being decoded: a
                                     still-queued job is withdrawn and its call starts now in
                                     the authoritative lane; resolve later claims it (promoted,
                                     counted once, at resolve)
    cancel_refuted(session, cands)   the trie REFUTED the call being decoded: those of the
                                     candidates still queued are withdrawn (budget freed)
    restart_confirmed(job)           a later call of the same turn CONFIRMED a withdrawn one:
                                     its call starts now, as if promoted early
    end_session / sweep              unused jobs are cancelled; their tool time is waste

Transparency: a session only ever sees a ToolResult for a call it emitted, carrying its own
call id; a speculative result that failed (error, timeout, crash) or went stale is never used:
the call then runs authoritatively, exactly as with speculation off. A call that is not
pure/read_only (ToolSpec.call_effect: per call for a tool that classifies its calls, e.g. a
`bash` running `sed -i`) bumps the session's epoch first, making every older staged job stale.
The trie only moves when work starts: an early-promoted job answers only a call that resolve()
matches by canonical form, and its result reads exactly as if the call had been submitted then.

Transactions (paste.tools.transaction): a side-effecting call whose tool supplies one runs
speculatively on a private copy of its state. When the model emits that call and the job is
still fresh (no other side effect since it was staged), resolve claims it before bumping the
epoch; the hit commits the staged effects when its result is taken (a done job: observed
latency is the commit's time), and a commit that raises makes it a miss (the call then runs for
real). Every other end of such a job (miss, stale, expired, cancelled) discards its effects.
A transactional job is never promoted early or restarted on the trie's CONFIRMED: that would
run the real side effect before the model has finished the call.

CPU: an authoritative job of a cpu_bound tool is counted on the shared budget from its
submission (resolve, or promote_early) until its future completes, a speculative one from its
admission; when an authoritative one starts with every cpu slot taken, the newest running
speculative cpu_bound job of a process-isolated tool (whose cancel kills its process) yields:
it is unstaged and cancelled, its tool time counted as waste and the job as `yielded`. Jobs of
thread-isolated tools never yield (a running thread, and a subprocess it waits on, cannot be
stopped by cancel); they only hold their slot until they end.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from paste.speculation.admission import AdmissionPolicy, Candidate, refusal
from paste.speculation.budget import SpeculationBudget
from paste.speculation.config import SpeculationConfig
from paste.speculation.latency import ToolLatency, latency_kind
from paste.speculation.metrics import SpeculationMetrics
from paste.speculation.misscause import LAUNCHED, MissCauses
from paste.speculation.staging import StagedJob, StagingStore
from paste.speculation.waste import Reservation, WasteBudget
from paste.tools.errors import UnknownToolError
from paste.tools.executor import ToolExecutor
from paste.tools.future import ToolFuture
from paste.tools.registry import ToolRegistry
from paste.tools.results import ToolJob, ToolResult
from paste.tools.spec import EffectClass

_SAFE = (EffectClass.PURE, EffectClass.READ_ONLY)
logger = logging.getLogger(__name__)


class ResolvedCall:
    """The authoritative result of one emitted call; result() blocks until it is available.

    The hit kind is decided when the call is emitted (construction): a queued speculative job
    is promoted at once, so it never waits behind the speculative lane.
    """

    def __init__(self, manager: SpeculationManager, session_id: str, job: ToolJob,
                 staged: StagedJob | None, commits: bool = False) -> None:
        """commits: `staged` is a transaction whose effects a hit must commit."""
        self._manager, self._session, self._job = manager, session_id, job
        self._emitted_at = time.monotonic()
        self._staged = staged
        self._commits = commits
        self._ready_at: float | None = None  # when a committed hit's effects were applied
        self._future = None
        self._result: ToolResult | None = None
        self._provisional: str | None = None  # call id an early-promoted job ran under
        if staged is None:
            self.kind = "miss"
        elif staged.promoted:  # promoted on the trie's CONFIRMED: already authoritative
            self.kind = "promoted"
            self._staged, self._future, self._provisional = None, staged.future, staged.call_id
            manager.metrics.add(session_id, "hits_promoted")
        elif staged.future.done():
            self.kind = "reused"
        elif staged.future.withdraw():  # still queued: run it in the authoritative lane now
            self.kind = "promoted"
            self._staged = None
            manager.metrics.add(session_id, "hits_promoted")
        else:
            self.kind = "awaited"
        if self._staged is None and self._future is None:
            self._future = manager._submit_authoritative(job)

    @property
    def call_id(self) -> str:
        return self._job.call_id

    @property
    def submitted_at(self) -> float:
        """When the model emitted the call (observed latency starts here)."""
        return self._emitted_at

    def done(self) -> bool:
        if self._result is not None:
            return True
        future = self._staged.future if self._staged is not None else self._future
        return future is not None and future.done()

    def cancel(self) -> bool:
        """Cancels the authoritative job if one runs; a staged hit needs no cancelling, except
        a transaction's, whose effects are then discarded (the call never happened)."""
        if self._staged is not None and self._commits and self._result is None:
            self._manager._untrack(self)
            return self._staged.future.cancel()  # its cancel discards the staged effects
        return self._future.cancel() if self._future is not None else False

    def result(self, timeout: float | None = None) -> ToolResult:
        if self._result is None:
            self._result = self._wait(timeout)
            if self._commits:
                self._manager._untrack(self)
            # Observed latency: call emitted -> result available (0 for a finished hit), not
            # whenever the session got round to asking.
            end = self._ready_at if self._ready_at is not None else self._result.finished_at
            observed = 0.0 if self.kind == "reused" and self._ready_at is None else \
                max(0.0, end - self._emitted_at)
            self._manager.metrics.add(self._session, "observed_tool_latency_s", observed)
            self._manager.waste.add_used(self._result.tool_s)
        return self._result

    def _wait(self, timeout: float | None) -> ToolResult:
        m = self._manager
        if self._staged is not None:
            res = self._staged.future.result(timeout)
            spec = m.registry.get(self._job.name)
            if res.ok and spec.is_fresh(dict(self._staged.arguments), res) and self._commit():
                m.metrics.add(self._session, f"hits_{self.kind}")
                return dataclasses.replace(res, call_id=self._job.call_id)
            # A failed or stale speculation is invisible: run the call as if it never existed.
            self._staged.future.discard_effects()
            m._count_waste(self._session, None, res.tool_s)
            m.metrics.miss(self._session, "discarded")
            self.kind = "miss"
            self._staged = None
            self._future = m._submit_authoritative(self._job)
        assert self._future is not None
        res = self._future.result(timeout)
        if self._provisional is None:
            return res
        return _as_call(res, self._provisional, self._job.call_id)

    def _commit(self) -> bool:
        """A transactional hit applies its staged effects now; False if there are none or the
        commit raised (the hit then fails). True at once for any other hit."""
        if not self._commits:
            return True
        assert self._staged is not None
        effects = self._staged.future.take_effects()
        if effects is None:
            return False
        try:
            effects.commit()
        except Exception:
            logger.exception("committing the staged effects of %r failed", self._job.name)
            self._manager.metrics.add(self._session, "commit_failures")
            return False
        self._ready_at = time.monotonic()
        self._manager.metrics.add(self._session, "committed")
        return True


class SpeculationManager:
    """One per engine; shared by all sessions (one global budget)."""

    def __init__(self, registry: ToolRegistry, executor: ToolExecutor,
                 config: SpeculationConfig | None = None,
                 metrics: SpeculationMetrics | None = None,
                 budget: SpeculationBudget | None = None,
                 latency: ToolLatency | None = None,
                 waste: WasteBudget | None = None) -> None:
        """`budget` may be shared by several managers (e.g. one per replayed session with its
        own registry): it is still ONE global cap. Default: a new one of config's size.
        `latency` (shareable too) learns every started job's tool time; a candidate's expected
        latency is its kind's measured mean once there is one (speculation/latency.py).
        `waste` (shareable) bounds wasted tool time; default: one of config.max_waste_ratio."""
        self.registry, self.executor = registry, executor
        self.config = config or SpeculationConfig()
        self.budget = budget or SpeculationBudget(self.config.max_concurrent_jobs)
        self.waste = waste or WasteBudget(self.config.max_waste_ratio)
        self.admission = AdmissionPolicy(self.budget, self.config.min_probability,
                                         self.config.cpu_slots, self.config.waste_price,
                                         self.waste, self.config.transactions)
        self.staging = StagingStore(self.config.ttl_s)
        self.metrics = metrics or SpeculationMetrics()
        self.coordination_cost_s = self.config.coordination_cost_s
        self.latency = latency or ToolLatency()
        self._ids = itertools.count()
        # Claimed transactional hits whose result was not taken yet (end_session discards).
        self._open: dict[str, set[ResolvedCall]] = {}
        self._open_lock = threading.Lock()
        self._num_emitted: dict[str, int] = {}  # calls each session's model emitted (resolve)
        self.miss_causes = MissCauses()  # why each miss was one (misscause.py)

    def speculate(self, session_id: str, candidates: Iterable[Candidate],
                  on_done: Callable[[Candidate, Any], None] | None = None,
                  ahead: int = 1) -> list[str]:
        """Launches the admitted candidates; returns their canonical calls. `on_done(cand,
        future)` runs (on a tool thread) when a launched job finishes, e.g. to chain.
        `ahead`: the candidates are for the session's next call (1) or the one after it (2,
        chained): once the model has emitted that call as another one, a job still running
        is passed over (WasteBudget.pass_over)."""
        if not self.config.enable_speculation:
            return []
        launched = []
        for cand in list(candidates)[: self.config.max_predictions_per_event]:
            if self.staging.has(session_id, cand.canonical):
                continue
            t0 = time.perf_counter()
            try:
                spec = self.registry.get(cand.name)
            except UnknownToolError:
                self.metrics.reject(session_id, "unknown_tool")
                continue
            kind = latency_kind(cand.name, cand.arguments)
            measured = self.latency.estimate(kind, cand.expected_latency_s)
            if self.config.learn_latency and measured != cand.expected_latency_s:
                cand = dataclasses.replace(cand, expected_latency_s=measured)
            decision = self.admission.decide(cand, spec, self.coordination_cost_s, session_id)
            target = self._emitted(session_id) + ahead
            if not decision.admitted:
                self.metrics.reject(session_id, decision.reason)
                self.miss_causes.offered(session_id, cand.canonical, target, decision.reason)
                continue
            cand_id = next(self._ids)
            job = ToolJob(f"spec-{cand_id}", cand.name, dict(cand.arguments),
                          session_id=session_id, speculative=True)
            epoch = self.staging.epoch(session_id)
            future = self.executor.submit(job)
            future.add_done_callback(lambda _f: self.budget.release())
            future.add_done_callback(functools.partial(self._learn_latency, kind))
            if decision.cpu:
                future.add_done_callback(self._cpu_done)
            if on_done is not None:
                future.add_done_callback(functools.partial(on_done, cand))
            staged = StagedJob(session_id, cand.canonical, cand.name, dict(cand.arguments),
                               future, epoch, cand_id=cand_id, call_id=job.call_id,
                               reservation=decision.reservation, target=target)
            if not self.staging.put(staged):
                future.cancel()
                self.waste.settle(decision.reservation)
                continue
            self.waste.bind(decision.reservation, future, functools.partial(self._cut, staged))
            if decision.cpu and spec.isolation == "process":  # its cancel kills the process
                self.budget.register_yieldable(future, functools.partial(self._yield, staged))
                if future.done():  # ended before it was registered: _cpu_done missed it
                    self.budget.unregister_yieldable(future)
            self.metrics.add(session_id, "speculative_jobs")
            self.miss_causes.offered(session_id, cand.canonical, target, LAUNCHED)
            launched.append(cand.canonical)
            cost = time.perf_counter() - t0  # measured coordination cost, smoothed
            self.coordination_cost_s = 0.9 * self.coordination_cost_s + 0.1 * cost
        return launched

    def resolve(self, session_id: str, call_id: str, name: str, arguments: dict[str, Any],
                canonical: str) -> ResolvedCall:
        """The model emitted this call: start (or find) its authoritative result."""
        self.metrics.add(session_id, "authoritative_calls")
        try:
            spec = self.registry.get(name)
            effect = spec.call_effect(arguments)
            commits = self.config.transactions and spec.runs_transaction(arguments)
        except UnknownToolError:
            spec, effect, commits = None, EffectClass.SIDE_EFFECT, False
        # A transaction staged in this epoch is claimed before the call makes the rest stale.
        staged = self.staging.claim(session_id, canonical) if effect in _SAFE or commits else None
        if effect not in _SAFE:  # the world may change: older speculation is stale
            self._discard(session_id, self.staging.bump_epoch(session_id), "stale_discarded")
        with self._open_lock:
            emitted = self._num_emitted[session_id] = self._num_emitted.get(session_id, 0) + 1
        for other in self.staging.jobs(session_id):  # launched for this call: passed over
            if other.target <= emitted and not other.future.done():
                self.waste.pass_over(other.reservation)
        if staged is None:
            refused = ("effect" if spec is None
                       else refusal(spec, arguments, self.config.transactions))
            self.metrics.miss(session_id,
                              self.miss_causes.cause(session_id, canonical, emitted, refused))
        else:  # claimed: it now does authoritative work and never yields its core
            self.miss_causes.emitted(session_id, emitted)
            self.budget.unregister_yieldable(staged.future)
            self.waste.settle(staged.reservation)
        job = ToolJob(call_id, name, dict(arguments), session_id=session_id)
        commit_hit = commits and staged is not None and not staged.promoted
        resolved = ResolvedCall(self, session_id, job, staged, commits=commit_hit)
        if commit_hit:
            with self._open_lock:
                self._open.setdefault(session_id, set()).add(resolved)
        return resolved

    def _emitted(self, session_id: str) -> int:
        """How many calls the session's model has emitted (resolve) so far."""
        with self._open_lock:
            return self._num_emitted.get(session_id, 0)

    def _untrack(self, resolved: ResolvedCall) -> None:
        with self._open_lock:
            self._open.get(resolved._session, set()).discard(resolved)

    def is_transaction(self, name: str, arguments: dict[str, Any]) -> bool:
        """True if a speculative run of this call is a transaction (staged effects)."""
        try:
            return self.registry.get(name).runs_transaction(arguments)
        except UnknownToolError:
            return False

    def promote_early(self, session_id: str, cand_id: int) -> bool:
        """The trie CONFIRMED candidate cand_id: if its job is still queued, run its call in
        the authoritative lane now; True if promoted. A running or done job is left alone
        (resolve awaits or reuses it); a stale one is never promoted."""
        job = next((j for j in self.staging.jobs(session_id)
                    if j.cand_id == cand_id and not j.promoted), None)
        if job is None or job.epoch != self.staging.epoch(session_id):
            return False
        if self.is_transaction(job.name, job.arguments):
            return False  # the real side effect must wait for the complete call
        if not job.future.withdraw():  # started (or done) already: nothing to move
            return False
        auth = ToolJob(job.call_id, job.name, dict(job.arguments), session_id=session_id)
        future = self._submit_authoritative(auth)
        if not self.staging.replace(job, dataclasses.replace(job, future=future, promoted=True)):
            future.cancel()  # claimed, expired or made stale meanwhile
            self.metrics.add(session_id, "cancelled")
            return False
        self.metrics.add(session_id, "promoted_early")
        return True

    def cancel_refuted(self, session_id: str, cand_ids: Iterable[int]) -> list[StagedJob]:
        """The trie REFUTED the call being decoded against these candidates: withdraw those
        still queued (their budget slots free at once); returns the withdrawn jobs (a later
        call of the same turn may still confirm one: restart_confirmed)."""
        ids = set(cand_ids)
        withdrawn = []
        for job in self.staging.jobs(session_id):
            if job.cand_id in ids and not job.promoted and job.future.withdraw():
                if self.staging.remove(job):
                    self.waste.settle(job.reservation)  # withdrawn: it never ran
                self.metrics.add(session_id, "refuted_cancelled")
                withdrawn.append(job)
        return withdrawn

    def restart_confirmed(self, job: StagedJob) -> bool:
        """The trie CONFIRMED a candidate whose queued job an earlier call of the same turn
        had refuted (withdrawn, so it never ran): start its call now in the authoritative lane
        and stage it as promoted, exactly as promote_early would have; False (nothing runs)
        if the session's epoch moved since it was staged, or the call is staged again."""
        session_id = job.session_id
        if job.epoch != self.staging.epoch(session_id) or self.staging.has(session_id,
                                                                            job.canonical):
            return False
        if self.is_transaction(job.name, job.arguments):
            return False  # the real side effect must wait for the complete call
        auth = ToolJob(job.call_id, job.name, dict(job.arguments), session_id=session_id)
        future = self._submit_authoritative(auth)
        if not self.staging.put(dataclasses.replace(job, future=future, promoted=True,
                                                    reservation=None)):
            future.cancel()  # made stale meanwhile
            self.metrics.add(session_id, "cancelled")
            return False
        self.metrics.add(session_id, "promoted_early")
        return True

    def end_session(self, session_id: str) -> None:
        """Unused jobs are cancelled; a claimed transactional hit whose result was never
        taken is cancelled too (its staged effects discarded: the call never completed)."""
        with self._open_lock:
            unclaimed = self._open.pop(session_id, set())
            self._num_emitted.pop(session_id, None)
        self.miss_causes.end_session(session_id)
        for resolved in unclaimed:
            resolved.cancel()
        self._discard(session_id, self.staging.drop_session(session_id), "cancelled")
        self.metrics.end_session(session_id)

    def sweep(self, now: float | None = None) -> None:
        for job in self.staging.expire(now):
            self._discard(job.session_id, [job], "cancelled")

    def _submit_authoritative(self, job: ToolJob) -> ToolFuture:
        """Submits an authoritative job; one of a cpu_bound tool is counted on the budget until
        its future completes (and may make a speculative cpu_bound job yield, see above)."""
        try:
            cpu = self.registry.get(job.name).cpu_bound
        except UnknownToolError:
            cpu = False
        learn = functools.partial(self._learn_latency, latency_kind(job.name, job.arguments))
        if not cpu:
            future = self.executor.submit(job)
            future.add_done_callback(learn)
            return future
        self.budget.start_cpu(self.config.cpu_slots)
        try:
            future = self.executor.submit(job)
        except BaseException:
            self.budget.finish_cpu()
            raise
        future.add_done_callback(lambda _f: self.budget.finish_cpu())
        future.add_done_callback(learn)
        return future

    def _learn_latency(self, kind: str, future: ToolFuture) -> None:
        self.latency.observe_result(kind, future.result(0))

    def _cpu_done(self, future: ToolFuture) -> None:
        """A speculative cpu_bound job ended: it can no longer yield; its cpu count ends."""
        self.budget.unregister_yieldable(future)
        self.budget.finish_cpu()

    def _yield(self, job: StagedJob) -> None:
        """An authoritative cpu_bound job needs the core this speculative job holds: unstage
        it (unless the model's call claimed it first: then it keeps running) and cancel it,
        which kills its process. Its result is never used: its tool time is waste."""
        if self.staging.remove(job):
            self._discard(job.session_id, [job], "yielded")

    def _cut(self, job: StagedJob) -> None:
        """The waste bound cut this job in flight (WasteBudget.enforce): unstage it (unless
        the model's call claimed it first) and cancel it; its tool time so far is waste."""
        if self.staging.remove(job):
            self._discard(job.session_id, [job], "waste_cut")

    def _discard(self, session_id: str, jobs: list[StagedJob], counter: str) -> None:
        """Unstaged and never used: cancelled if still running, and the tool time each one
        took is waste, whatever its outcome (an error, or the time it ran until the cancel;
        a sync thread that cannot be stopped runs on uncounted)."""
        for job in jobs:
            cut = job.future.cancel()
            res = job.future.result() if job.future.done() else None
            self._count_waste(session_id, job.reservation,
                              res.tool_s if res is not None else 0.0, ran_out=not cut)
            self.metrics.add(session_id, counter)

    def _count_waste(self, session_id: str, reservation: Reservation | None,
                     wasted_s: float, ran_out: bool = True) -> None:
        """A speculative job ended unused: its tool time is waste, in the metrics and on the
        waste budget (whose reservation, if any, it settles; `ran_out` False: a cancel cut
        it short, WasteBudget.settle)."""
        if wasted_s:
            self.metrics.add(session_id, "waste_s", wasted_s)
        self.waste.settle(reservation, wasted_s, ran_out)


def _as_call(res: ToolResult, provisional: str, call_id: str) -> ToolResult:
    """An early-promoted job's result as the emitted call's: its call id, and error messages
    (which quote the call id) naming the emitted call, exactly as a job submitted now would."""
    if res.ok:
        return dataclasses.replace(res, call_id=call_id)
    old, new = repr(provisional), repr(call_id)
    return dataclasses.replace(
        res,
        call_id=call_id,
        content=res.content.replace(old, new),
        error=res.error.replace(old, new) if res.error is not None else None,
    )
