"""Shared fixtures of the tests/test_workloads_*.py files (no tests here): the tiny corpus,
a SimulatedEngine on the tiny model, and a helper that runs one task as a live session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "workloads"


def tiny_corpus() -> tuple:
    from paste.workloads.corpus import Document

    return tuple(Document(**d) for d in json.loads((DATA / "tiny_corpus.json").read_text()))


def sim_engine(folder: Path) -> Any:
    """Simulated model time at fast rates: turns take milliseconds."""
    from paste.bench.sim_engine import SimulatedEngine

    return SimulatedEngine(str(folder), decode_tok_s=4000.0, prefill_tok_s=1e6)


def run_one(engine: Any, env: Any, task: Any, mode: str = "serial", predictors=None,
            playback=None, trace_dir=None) -> Any:
    """One task as a live session in `mode`; returns the LiveRun."""
    from paste.bench.modes import MODES
    from paste.workloads.runner import LiveConfig, run_live_mode

    predictors = predictors or {}
    return run_live_mode(engine, [task], MODES[mode], env, predictors.get,
                         LiveConfig(concurrency=1, speculation_budget=8), playback, trace_dir)


def thoughts(run: Any, task_id: str) -> list[str]:
    """The thoughts (assistant text before each call) of one task's session in a LiveRun."""
    record = next(r for r in run.run.sessions if r.session_id == task_id)
    return [m["content"] for m in json.loads(record.transcript)
            if m["role"] == "assistant" and m.get("tool_calls")]
