"""Speculative tool execution: predicted calls run early, privately, under one global budget.

    config.py     SpeculationConfig: one flag per mechanism (for ablations) and the limits
    budget.py     SpeculationBudget: ONE cap on concurrent speculative jobs across all sessions
    admission.py  AdmissionPolicy: effect class, tool policy, net value, fail closed
    staging.py    StagingStore: speculative results, invisible until claimed; freshness epochs
    metrics.py    SpeculationMetrics: hits by kind, misses, launches, waste, observed latency
    manager.py    SpeculationManager: launch predictions, resolve authoritative calls to hits
"""
