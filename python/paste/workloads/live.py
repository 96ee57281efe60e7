"""The live workloads end to end: tasks -> training run -> predictor -> modes -> report.

    report = live(LiveOptions(workloads=["research", "coding"], sessions=4, ...))

1. Training (only if a mode speculates): `train_sessions` tasks per workload with seed
   `seed + TRAIN_SEED_OFFSET` (other tasks than the evaluated ones) run in serial mode; every
   session writes paste's own JSONL trace; one PatternStore per workload (tenant) is mined on
   those traces only (paste.patterns.mining.mine).
2. Evaluation: `sessions` tasks per workload with `seed`, run in each mode. serial runs first
   when requested (its recording is the oracle's playback); oracle without serial gets an
   unreported recording run. The report keeps the requested mode order.
3. paste.bench.report.summarize -> `{"modes": {...}, "config": {...}}`; with `out`:
   report.json, report.md and timeline-<mode>.png.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from paste.bench.modes import MODES, Mode, parse_modes
from paste.bench.replay import check_run_options, check_waste_options
from paste.bench.report import markdown, summarize
from paste.errors import InvalidArgumentError
from paste.workloads.environment import LiveEnvironment
from paste.workloads.netlatency import DEFAULT_ENDPOINTS, NetworkLatency
from paste.workloads.runner import LiveConfig, LiveRun, run_live_mode
from paste.workloads.tasks import LiveTask, make_tasks, parse_workloads

TRAIN_SEED_OFFSET = 1000


@dataclass
class LiveOptions:
    workloads: list[str] = field(default_factory=lambda: ["research", "coding", "science"])
    sessions: int = 4  # per workload
    train_sessions: int = 8  # per workload
    concurrency: int = 8
    modes: str = "serial,paste,oracle"
    model: str = "smollm2-135m-instruct"
    model_time: str = "simulated"
    decode_tok_s: float = 113.7
    prefill_tok_s: float = 38112.0
    seed: int = 0
    poisson_rate: float | None = None
    latency_scale: float = 1.0  # multiplies the corpus server's network latency
    max_latency_s: float = 30.0
    endpoints: dict[str, tuple[float, float]] = field(
        default_factory=lambda: dict(DEFAULT_ENDPOINTS)
    )
    speculation_budget: int = 16
    waste_price: float = 0.1  # SpeculationConfig.waste_price of the speculating modes
    max_waste_ratio: float | None = 0.5  # SpeculationConfig.max_waste_ratio (None: unbounded)
    min_groups: int = 3
    corpus: Any = None  # research documents; None: the stdlib corpus
    science_in_process: bool = False
    out: Path | None = None
    plots: bool = True
    progress: bool = True


def make_engine(options: LiveOptions) -> Any:
    if options.model_time == "simulated":
        from paste.bench.sim_engine import SimulatedEngine

        return SimulatedEngine(options.model, options.decode_tok_s, options.prefill_tok_s)
    if options.model_time == "real":
        from paste.engine.engine import Engine

        return Engine(options.model)
    raise InvalidArgumentError(f"--model-time must be real or simulated, got {options.model_time!r}")


def mine_predictors(trace_dir: Path, workloads: list[str], min_groups: int) -> dict[str, Any]:
    """workload -> Predictor mined on `<trace_dir>/<workload>/` traces only."""
    from paste.patterns.loaders import load_folder
    from paste.patterns.mining import mine
    from paste.patterns.predictor import Predictor

    out = {}
    for name in workloads:
        folder = trace_dir / name
        traces = load_folder(folder, tenant=name).traces if folder.is_dir() else []
        if traces:
            out[name] = Predictor(mine(traces, name, min_groups))
    return out


def live(options: LiveOptions, engine: Any = None) -> dict[str, Any]:
    """Runs every mode over the same tasks; returns the report (module docstring)."""
    return run_live(options, engine)[0]


def run_live(options: LiveOptions, engine: Any = None) -> tuple[dict[str, Any], dict[str, LiveRun]]:
    """live(), also returning every mode's LiveRun by mode name."""
    modes = parse_modes(options.modes)
    perfect = [m.name for m in modes if m.perfect_prediction]
    if perfect:
        raise InvalidArgumentError(f"mode {perfect[0]} predicts a replayed trace's recorded "
                                   "calls; live tasks have none (use `paste bench replay`)")
    workloads = parse_workloads(",".join(options.workloads))
    check_run_options(options.sessions, options.concurrency, options.poisson_rate,
                      options.max_latency_s, options.speculation_budget)
    if options.train_sessions < 0:
        raise InvalidArgumentError(
            f"--train-sessions must be >= 0, got {options.train_sessions}")
    if not 0.0 <= options.latency_scale < float("inf"):
        raise InvalidArgumentError(
            f"--latency-scale must be a finite number >= 0, got {options.latency_scale!r}")
    check_waste_options(options.waste_price, options.max_waste_ratio)
    own_engine = engine is None
    engine = engine or make_engine(options)
    cfg = LiveConfig(concurrency=options.concurrency, seed=options.seed,
                     poisson_rate=options.poisson_rate,
                     speculation_budget=options.speculation_budget,
                     waste_price=options.waste_price,
                     max_waste_ratio=options.max_waste_ratio)
    latency = NetworkLatency(options.seed, options.latency_scale, options.max_latency_s,
                             dict(options.endpoints))
    tasks = make_tasks(workloads, options.sessions, options.seed)
    runs: dict[str, LiveRun] = {}
    try:
        with LiveEnvironment(workloads, latency, options.corpus,
                             options.science_in_process) as env:
            predictors: dict[str, Any] = {}
            if any(m.speculation for m in modes):
                predictors = _train(engine, env, workloads, options, cfg)
            order = sorted(modes, key=lambda m: m.name != "serial")
            for mode in order:
                playback = None
                if mode.oracle:
                    if "serial" not in runs:
                        runs["record"] = _run(engine, tasks, MODES["serial"], env, {}, cfg,
                                              options, run_name="record")
                    playback = (runs.get("serial") or runs["record"]).recordings
                runs[mode.name] = _run(engine, tasks, mode, env, predictors, cfg, options,
                                       playback=playback)
    finally:
        if own_engine:
            engine.shutdown()
    report = summarize([runs[m.name].run for m in modes], _config(options, tasks))
    if options.out is not None:
        write_outputs(report, [runs[m.name] for m in modes], options.out, options.plots)
    return report, runs


def _train(engine: Any, env: LiveEnvironment, workloads: list[str], options: LiveOptions,
           cfg: LiveConfig) -> dict[str, Any]:
    train = make_tasks(workloads, options.train_sessions, options.seed + TRAIN_SEED_OFFSET)
    with tempfile.TemporaryDirectory(prefix="paste-live-train-") as tmp:
        _run(engine, train, MODES["serial"], env, {}, cfg, options, trace_dir=Path(tmp),
             run_name="train")
        return mine_predictors(Path(tmp), workloads, options.min_groups)


def _run(engine: Any, tasks: list[LiveTask], mode: Mode, env: LiveEnvironment,
         predictors: dict[str, Any], cfg: LiveConfig, options: LiveOptions,
         playback: Any = None, trace_dir: Path | None = None,
         run_name: str | None = None) -> LiveRun:
    bar = None
    if options.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc=f"live {run_name or mode.name}", file=sys.stderr,
                   leave=False)
    try:
        return run_live_mode(engine, tasks, mode, env, predictors.get, cfg, playback,
                             trace_dir, run_name, bar)
    finally:
        if bar is not None:
            bar.close()


def _config(options: LiveOptions, tasks: list[LiveTask]) -> dict[str, Any]:
    cfg = {k: v for k, v in asdict(options).items()
           if k not in ("corpus", "out", "plots", "progress")}
    cfg["endpoints"] = {k: list(v) for k, v in options.endpoints.items()}
    cfg["sources"] = list(options.workloads)
    cfg["tasks"] = [t.task_id for t in tasks]
    cfg["corpus"] = "stdlib" if options.corpus is None else f"{len(options.corpus)} documents"
    cfg["train_seed"] = options.seed + TRAIN_SEED_OFFSET
    if options.model_time != "simulated":
        cfg.pop("decode_tok_s")
        cfg.pop("prefill_tok_s")
    return cfg


def write_outputs(report: dict[str, Any], runs: list[LiveRun], out: Path,
                  plots: bool = True) -> None:
    """report.json, report.md and (plots) one timeline-<mode>.png per mode into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out / "report.md").write_text(markdown(report).replace("# Trace replay", "# Live workloads", 1))
    if not plots:
        return
    from paste.bench.plot import plot_timeline

    label = report["config"]["model_time"]
    for live_run in runs:
        name = live_run.run.mode.name
        plot_timeline(live_run.run, out / f"timeline-{name}.png", f"live {name} ({label} model time)")
