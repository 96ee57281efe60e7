"""Runs replay scripts as live paste sessions in one mode (paste.bench.modes).

Per session: its own ReplayTools (registry + recorded outputs), its own ToolExecutor and, when
the mode speculates, its own SpeculationManager; every manager of the mode shares ONE
SpeculationBudget (the global cap) and ONE SpeculationMetrics. The predictor is tenant-scoped:
a session's tenant is its source, and it asks only that tenant's predictor. Sessions start in
a seeded order on a pool of `concurrency` threads, at once or at seeded Poisson arrival times.
TCT is measured from a session's start (after any queueing) to its last run's final answer.
"""

from __future__ import annotations

import concurrent.futures
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paste.bench.latency import LatencyModel
from paste.bench.modes import Mode, coscheduling_policy
from paste.bench.script import ReplayScript, TeacherForcedTurns
from paste.bench.tools import ReplayTools, ToolRun
from paste.engine.stats import engine_stats

SYSTEM = "You are an agent. Use the tools to solve the task."


def system_prompt(script: ReplayScript) -> str:
    """SYSTEM, stating the recorded session's current date when it has one (as the recorded
    prompt did: the session's predictions date the user's dates written without a year)."""
    return SYSTEM if script.today is None else f"{SYSTEM} The current date is {script.today}."


@dataclass
class ReplayConfig:
    concurrency: int = 8
    seed: int = 0
    poisson_rate: float | None = None  # sessions per second; None: all start at once
    latency: LatencyModel = field(default_factory=LatencyModel)
    speculation_budget: int = 16  # the ONE global cap of speculative jobs in flight
    max_predictions_per_event: int = 3
    waste_price: float = 0.1
    max_waste_ratio: float | None = 0.5
    transactions: str = "none"  # paste.bench.tools.TRANSACTIONS
    num_draft_tokens: int = 3  # speculative decoding per step in the modes that draft


@dataclass
class SessionRecord:
    session_id: str  # the replayed trace's id
    tenant: str
    statuses: list[str]
    tct_s: float
    start_s: float  # relative to the mode's start
    transcript: str  # json of every message, sorted keys
    metrics: dict[str, Any]
    timings: dict[str, dict[str, float]]
    tool_runs: list[ToolRun]
    t0: float  # monotonic session start


@dataclass
class ModeRun:
    mode: Mode
    sessions: list[SessionRecord]
    wall_s: float
    speculation: dict[str, Any] | None


def arrival_offsets(n: int, rate: float | None, seed: int) -> list[float]:
    if not rate:
        return [0.0] * n
    rng, t, out = random.Random(seed), 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.expovariate(rate)
    return out


def run_mode(
    engine: Any,
    scripts: list[ReplayScript],
    mode: Mode,
    predictor_for: Callable[[str], Any],
    cfg: ReplayConfig,
    progress: Any = None,
) -> ModeRun:
    """Replays every script in `mode`; see the module docstring."""
    # One global budget, waste budget, metrics and measured tool latencies for the mode.
    shared = shared_speculation(cfg, mode)
    offsets = arrival_offsets(len(scripts), cfg.poisson_rate, cfg.seed)
    started = time.monotonic()

    def one(i: int) -> SessionRecord:
        wait = started + offsets[i] - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        same = [s for s in scripts if s.source == scripts[i].source]
        record = _run_session(engine, scripts[i], same, mode, predictor_for, cfg,
                              shared)
        record.start_s = record.t0 - started
        if progress is not None:
            progress.update(1)
        return record

    with concurrent.futures.ThreadPoolExecutor(cfg.concurrency) as pool:
        records = list(pool.map(one, range(len(scripts))))
    wall = time.monotonic() - started
    return ModeRun(mode, records, wall,
                   shared.metrics.snapshot() if mode.speculation else None)


def offered_tools(script: ReplayScript, scripts_of_source: list[ReplayScript]) -> list[str]:
    """The tools a replayed session offers: the ones its trace records it was offered (the
    predictor then only considers those), else every tool the source's replayed sessions
    called (the predictor is then not told the list: it was not recorded)."""
    if script.tools is not None:
        return sorted(script.tools | {t.call.name for t in script.calls if t.call})
    return sorted({t.call.name for s in scripts_of_source for t in s.calls if t.call})


def _run_session(
    engine: Any,
    script: ReplayScript,
    scripts_of_source: list[ReplayScript],
    mode: Mode,
    predictor_for: Callable[[str], Any],
    cfg: ReplayConfig,
    shared: Any,  # SharedSpeculation
) -> SessionRecord:
    from paste.session import open_session
    from paste.speculation import Speculator
    from paste.tools import ToolExecutor

    offered = offered_tools(script, scripts_of_source)
    tools = ReplayTools(script, None if mode.oracle else cfg.latency, offered,
                        transactions=cfg.transactions)
    executor = ToolExecutor(tools.registry, max_workers=16)
    speculator = None
    if mode.speculation:
        manager = shared.manager(tools.registry, executor)
        if mode.perfect_prediction:
            from paste.bench.perfect import ScriptPredictor

            perfect = ScriptPredictor(script)
            predictor_for = lambda _tenant: perfect  # noqa: E731 - the session's own script
        speculator = Speculator(manager, predictor_for, lambda: engine_step_time(engine),
                                offered_tools=script.tools is not None)
    policy = TeacherForcedTurns(script, engine.encode, _eos(engine),
                                cfg.num_draft_tokens if mode.drafts else 0)
    t0 = time.monotonic()
    session = open_session(
        engine, tools=tools.registry, system=system_prompt(script), tenant=script.source,
        max_turns=script.max_turns + 1, parser="json", turn_params=policy, executor=executor,
        session_id=f"{mode.name}-{script.session_id}-{t0:.6f}", speculator=speculator,
        early_dispatch=mode.early_dispatch, kv_retention=mode.kv_retention,
        coscheduling=coscheduling_policy(mode), environment=script.env,
    )  # fmt: skip
    tools.position = lambda: sum(1 for m in session.messages if m["role"] == "tool")
    statuses = []
    try:
        for run in script.runs:
            statuses.append(str(session.run(run.user).status))
        tct = time.monotonic() - t0
        trace = session.trace()
    finally:
        session.close()
        executor.shutdown(wait=False)
    return SessionRecord(
        script.session_id, script.source, statuses, tct, 0.0,
        json.dumps(session.messages, sort_keys=True, ensure_ascii=False),
        session.metrics(), trace["timings"], list(tools.runs), t0,
    )  # fmt: skip


def engine_step_time(engine: Any) -> float | None:
    """Seconds per decode step of a real engine (its own measurement, engine.stats()) or a
    SimulatedEngine; None while unknown (speculation then fails closed)."""
    step = getattr(engine, "step_time_s", None)
    if step is None and (stats := engine_stats(engine)) is not None:
        step = stats.step_time_s
    return step


def _eos(engine: Any) -> int:
    eos = engine.tokenizer.eos_token_id
    return int(eos)


def shared_speculation(cfg: Any, mode: Mode | None = None) -> Any:
    """The SharedSpeculation of one mode's run, from a ReplayConfig or LiveConfig (and the
    mode's SpeculationConfig.lookahead and name_known; their defaults without a mode)."""
    from paste.speculation import SharedSpeculation, SpeculationConfig

    return SharedSpeculation(SpeculationConfig(
        max_concurrent_jobs=cfg.speculation_budget,
        max_predictions_per_event=cfg.max_predictions_per_event,
        waste_price=cfg.waste_price, max_waste_ratio=cfg.max_waste_ratio,
        lookahead=mode.lookahead if mode is not None else True,
        name_known=mode.name_known if mode is not None else False))
