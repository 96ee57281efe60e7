"""ServerSpeculation: speculative tool execution for the native sessions of one server.

One per server, that is per engine: ONE SpeculationBudget (the global cap on speculative jobs
in flight) and ONE SpeculationMetrics (the engine totals on /metrics, and each session's own
counts) shared by every session. A session may run only the tools it was given
(session_store.py), so each tool set has its own SpeculationManager over that set's registry
and executor, all sharing the budget and the metrics: a prediction of a tool outside the
session's set is rejected ("unknown_tool") and an emitted call runs on the set's executor
exactly as it would without speculation. Predictions come from TenantPredictors (a mined
store file and online learning from completed runs).

    session start / tool result -> Speculator -> tenant's Predictor -> manager (shared budget)
    run completed               -> TenantPredictors.learn; every manager sweeps expired jobs
"""

from __future__ import annotations

import threading
from typing import Any

from paste.engine.stats import engine_stats
from paste.server.predictors import TenantPredictors
from paste.speculation import (
    SharedSpeculation,
    SpeculationConfig,
    SpeculationManager,
    Speculator,
)
from paste.tools import ToolExecutor, ToolRegistry


class ServerSpeculation:
    def __init__(self, engine: Any, config: SpeculationConfig,
                 predictors: TenantPredictors) -> None:  # fmt: skip
        self.engine, self.config, self.predictors = engine, config, predictors
        self.shared = SharedSpeculation(config)
        self.budget, self.metrics = self.shared.budget, self.shared.metrics
        self._lock = threading.Lock()
        self._speculators: dict[tuple[str, ...], Speculator] = {}

    def speculator(self, names: tuple[str, ...], registry: ToolRegistry,
                   executor: ToolExecutor) -> Speculator:  # fmt: skip
        """The Speculator of one tool set (created once; `registry`/`executor` are the set's)."""
        with self._lock:
            speculator = self._speculators.get(names)
            if speculator is None:
                manager = self.shared.manager(registry, executor)
                speculator = Speculator(manager, self.predictors.predictor_for, self.step_time_s)
                self._speculators[names] = speculator
            return speculator

    def managers(self) -> list[SpeculationManager]:
        """The managers of every tool set so far (all on the one budget and metrics)."""
        with self._lock:
            return [s.manager for s in self._speculators.values()]

    def step_time_s(self) -> float | None:
        """The engine's smoothed step time (None before its first step: admission then fails
        closed, "estimates")."""
        stats = engine_stats(self.engine)
        return None if stats is None else stats.step_time_s

    def after_run(self, session: Any, start: int) -> None:
        """A run of `session` (its user message at messages[start]) ended: learn it if it
        completed, and drop staged jobs older than the TTL."""
        if session.status == "completed":
            self.predictors.learn(session, start)
        for manager in self.managers():
            manager.sweep()

    def snapshot(self) -> dict[str, object]:
        """Engine totals (SpeculationCounts.as_dict) plus the budget's use."""
        out = self.metrics.snapshot()
        out["budget_in_use"], out["budget_capacity"] = self.budget.in_use, self.budget.capacity
        return out

    def close(self) -> None:
        self.predictors.close()


def server_speculation(engine: Any, config: Any) -> ServerSpeculation | None:
    """The ServerSpeculation a ServerConfig asks for (None with enable_speculation off).
    Raises PatternStoreError if config.pattern_store or a store in config.pattern_dir cannot
    be read."""
    if not config.enable_speculation:
        return None
    spec = SpeculationConfig(max_concurrent_jobs=config.speculation_budget,
                             max_predictions_per_event=config.speculation_max_predictions,
                             waste_price=config.speculation_waste_price,
                             max_waste_ratio=config.speculation_max_waste_ratio,
                             transactions=config.speculation_transactions)  # fmt: skip
    predictors = TenantPredictors(config.pattern_store, config.learn_patterns,
                                  config.pattern_dir, config.pattern_save_interval)  # fmt: skip
    return ServerSpeculation(engine, spec, predictors)
