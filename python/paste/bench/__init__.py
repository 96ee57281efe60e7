"""Benchmark workloads. Trace replay: recorded agent sessions as live paste sessions.

    classify.py    effect class and latency family of a recorded call
    latency.py     LatencyModel: seeded lognormal tool latencies per family (README p50/p90)
    script.py      ReplayScript: a trace as teacher-forced turns; TeacherForcedTurns
    tools.py       ReplayTools: per-session registry serving recorded outputs
    sim_engine.py  SimulatedEngine: SIMULATED model time (real tokenizer, token-rate clock)
    modes.py       serial / paste / oracle and the ablations
    runner.py      run_mode: sessions on a thread pool, shared budget and metrics
    report.py      summaries: JSON report, terminal table, Markdown
    plot.py        timeline PNG per mode
    replay.py      replay(options): the whole workload (used by `paste bench replay`)

See docs/replay.md.
"""
