"""Runs live tasks as paste sessions in one mode (paste.bench.modes), with real tools.

Per session: its own LiveToolBox (registry + run log), ToolExecutor and, when the mode
speculates, SpeculationManager; every manager of a run shares ONE SpeculationBudget and ONE
SpeculationMetrics, as in the trace replay (paste.bench.runner). A session's tenant is its
workload, and it asks only that workload's predictor. The turns are the task's ScriptedAgent
(forced tokens decided from the real tool outputs). Sessions start in task order on a pool of
`concurrency` threads, at once or at seeded Poisson arrival times. Oracle mode answers every
call from `playback` (the serial run's recording of the same task). With `trace_dir`, each
session's trace is appended to `<trace_dir>/<workload>/traces.jsonl` (training runs).
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paste.bench.modes import Mode, coscheduling_policy
from paste.bench.runner import (
    ModeRun,
    SessionRecord,
    arrival_offsets,
    engine_step_time,
    shared_speculation,
)
from paste.workloads.environment import LiveEnvironment
from paste.workloads.scripted import ScriptedAgent
from paste.workloads.tasks import LiveTask

SYSTEM = "You are an agent. Use the tools to solve the task."


@dataclass
class LiveConfig:
    concurrency: int = 8
    seed: int = 0
    poisson_rate: float | None = None
    speculation_budget: int = 16
    max_predictions_per_event: int = 3
    waste_price: float = 0.1
    max_waste_ratio: float | None = 0.5
    max_turns: int = 16


@dataclass
class LiveRun:
    """A mode's sessions (ModeRun, what paste.bench.report reads) plus per task: the agent's
    calls as (name, arguments), its answer, and the recording of authoritative outcomes."""

    run: ModeRun
    calls: dict[str, list[tuple[str, dict]]] = field(default_factory=dict)
    answers: dict[str, str | None] = field(default_factory=dict)
    recordings: dict[str, list] = field(default_factory=dict)


def run_live_mode(
    engine: Any,
    tasks: list[LiveTask],
    mode: Mode,
    env: LiveEnvironment,
    predictor_for: Callable[[str], Any],
    cfg: LiveConfig,
    playback: dict[str, list] | None = None,
    trace_dir: Path | None = None,
    run_name: str | None = None,
    progress: Any = None,
) -> LiveRun:
    """Every task in `mode`; see the module docstring."""
    shared = shared_speculation(cfg, mode)
    offsets = arrival_offsets(len(tasks), cfg.poisson_rate, cfg.seed)
    live = LiveRun(ModeRun(mode, [], 0.0, None))
    started = time.monotonic()

    def one(i: int) -> SessionRecord:
        wait = started + offsets[i] - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        task = tasks[i]
        box = env.tools_for(task, run_name or mode.name,
                            None if playback is None else playback.get(task.task_id, []))
        agent = ScriptedAgent(task.program(), engine.encode, int(engine.tokenizer.eos_token_id))
        record = _run_session(engine, task, box, agent, mode, predictor_for, cfg, shared,
                              trace_dir)
        record.start_s = record.t0 - started
        live.calls[task.task_id] = [(c.name, c.arguments) for c in agent.calls]
        live.answers[task.task_id] = agent.answer
        live.recordings[task.task_id] = list(box.recording)
        if progress is not None:
            progress.update(1)
        return record

    with concurrent.futures.ThreadPoolExecutor(cfg.concurrency) as pool:
        records = list(pool.map(one, range(len(tasks))))
    live.run = ModeRun(mode, records, time.monotonic() - started,
                       shared.metrics.snapshot() if mode.speculation else None)
    return live


def _run_session(engine: Any, task: LiveTask, box: Any, agent: ScriptedAgent, mode: Mode,
                 predictor_for: Callable[[str], Any], cfg: LiveConfig, shared: Any,
                 trace_dir: Path | None) -> SessionRecord:
    from paste.session import open_session
    from paste.speculation import Speculator
    from paste.tools import ToolExecutor

    executor = ToolExecutor(box.registry, max_workers=16)
    speculator = None
    if mode.speculation:
        manager = shared.manager(box.registry, executor)
        speculator = Speculator(manager, predictor_for, lambda: engine_step_time(engine))
    t0 = time.monotonic()
    session = open_session(
        engine, tools=box.registry, system=SYSTEM, tenant=task.workload,
        max_turns=cfg.max_turns, parser="json", turn_params=agent, executor=executor,
        session_id=f"{mode.name}-{task.task_id}-{t0:.6f}", speculator=speculator,
        early_dispatch=mode.early_dispatch, kv_retention=mode.kv_retention,
        coscheduling=coscheduling_policy(mode),
    )  # fmt: skip
    box.position = lambda: sum(1 for m in session.messages if m["role"] == "tool")
    try:
        status = str(session.run(task.question).status)
        tct = time.monotonic() - t0
        trace = session.trace()
        if trace_dir is not None:
            folder = trace_dir / task.workload
            folder.mkdir(parents=True, exist_ok=True)
            session.write_trace(folder / "traces.jsonl")
    finally:
        session.close()
        executor.shutdown(wait=False)
    return SessionRecord(
        task.task_id, task.workload, [status], tct, 0.0,
        json.dumps(session.messages, sort_keys=True, ensure_ascii=False),
        session.metrics(), trace["timings"], list(box.runs), t0,
    )  # fmt: skip

