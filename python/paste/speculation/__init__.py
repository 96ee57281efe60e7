"""Speculative tool execution: predicted calls run early, privately, under one global budget.

    config.py     SpeculationConfig: one flag per mechanism (for ablations) and the limits
    budget.py     SpeculationBudget: ONE cap on concurrent speculative jobs across all sessions
    waste.py      WasteBudget: ONE bound on wasted tool-seconds per tool-second used
    admission.py  AdmissionPolicy: effect class, tool policy, net value, fail closed
    staging.py    StagingStore: speculative results, invisible until claimed; freshness epochs
    latency.py    ToolLatency: measured tool latency per call kind (admission's estimate)
    metrics.py    SpeculationMetrics: hits by kind, misses, launches, waste, observed latency
    manager.py    SpeculationManager: launch predictions, resolve authoritative calls to hits,
                  promote on the engine trie's CONFIRMED, withdraw on its REFUTED
    rendering.py  a predicted call as the model would write it (the trie's candidate text)
    shared.py     SharedSpeculation: the budgets, metrics and latencies an engine's managers share
    speculator.py Speculator / SessionSpeculation: sessions -> predictor -> manager, and the
                  staged calls -> the engine's trie matcher
"""

from paste.speculation.admission import AdmissionPolicy, Candidate, Decision
from paste.speculation.budget import SpeculationBudget
from paste.speculation.config import SpeculationConfig
from paste.speculation.latency import ToolLatency, latency_kind
from paste.speculation.manager import ResolvedCall, SpeculationManager
from paste.speculation.metrics import SpeculationMetrics
from paste.speculation.shared import SharedSpeculation
from paste.speculation.speculator import SessionSpeculation, Speculator
from paste.speculation.staging import StagingStore
from paste.speculation.waste import WasteBudget

__all__ = [
    "AdmissionPolicy",
    "Candidate",
    "Decision",
    "ResolvedCall",
    "SessionSpeculation",
    "SharedSpeculation",
    "SpeculationBudget",
    "SpeculationConfig",
    "SpeculationManager",
    "SpeculationMetrics",
    "Speculator",
    "StagingStore",
    "ToolLatency",
    "WasteBudget",
    "latency_kind",
]
