"""SharedSpeculation: what every SpeculationManager of one engine shares.

An engine serves sessions with different tool sets (one registry and executor each, so one
SpeculationManager each), but speculation has ONE global budget of jobs in flight, ONE waste
budget, ONE set of metrics and ONE table of measured tool latencies. This bundle creates them
once from a SpeculationConfig and hands them to every manager it makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from paste.speculation.budget import SpeculationBudget
from paste.speculation.config import SpeculationConfig
from paste.speculation.latency import ToolLatency
from paste.speculation.manager import SpeculationManager
from paste.speculation.metrics import SpeculationMetrics
from paste.speculation.waste import WasteBudget
from paste.tools.executor import ToolExecutor
from paste.tools.registry import ToolRegistry


@dataclass
class SharedSpeculation:
    config: SpeculationConfig = field(default_factory=SpeculationConfig)
    budget: SpeculationBudget = field(init=False)
    waste: WasteBudget = field(init=False)
    metrics: SpeculationMetrics = field(default_factory=SpeculationMetrics)
    latency: ToolLatency = field(default_factory=ToolLatency)

    def __post_init__(self) -> None:
        self.budget = SpeculationBudget(self.config.max_concurrent_jobs)
        self.waste = WasteBudget(self.config.max_waste_ratio)

    def manager(self, registry: ToolRegistry, executor: ToolExecutor) -> SpeculationManager:
        """A manager for one tool set, on the shared budgets, metrics and latencies."""
        return SpeculationManager(registry, executor, self.config, metrics=self.metrics,
                                  budget=self.budget, latency=self.latency, waste=self.waste)
