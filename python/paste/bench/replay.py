"""The replay workload end to end: traces -> scripts -> predictor -> modes -> report.

    options = ReplayOptions(traces=[...], train=[...], sessions=20, concurrency=8, ...)
    report = replay(options)        # {"modes": {...}, "config": {...}}; files into options.out

The predictor is mined ONLY on the --train folders, one PatternStore per tenant (a source's
tenant is its folder name; test traces are loaded with the same tenant so they ask their own
source's store). Sessions are a seeded sample of the --traces folders' sessions; every mode
replays the same sessions with the same seeded tool latencies.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from paste.bench.latency import LatencyModel
from paste.bench.modes import Mode, parse_modes
from paste.bench.report import markdown, summarize
from paste.bench.runner import ModeRun, ReplayConfig, run_mode
from paste.bench.script import ReplayScript, build_script, check_script
from paste.bench.tools import check_transactions
from paste.errors import InvalidArgumentError
from paste.speculation.waste import check_max_waste_ratio


@dataclass
class ReplayOptions:
    traces: list[Path]
    train: list[Path]
    sessions: int = 20
    concurrency: int = 8
    modes: str = "serial,paste,oracle"
    model: str = "smollm2-135m-instruct"
    model_time: str = "simulated"
    decode_tok_s: float = 113.7
    prefill_tok_s: float = 38112.0
    seed: int = 0
    poisson_rate: float | None = None
    latency_overrides: dict[str, tuple[float, float]] = field(default_factory=dict)
    max_latency_s: float = 60.0
    speculation_budget: int = 16
    waste_price: float = 0.1  # SpeculationConfig.waste_price of the speculating modes
    max_waste_ratio: float | None = 0.5  # SpeculationConfig.max_waste_ratio (None: unbounded)
    transactions: str = "worktree"  # side-effecting calls run as transactions (bench/tools.py)
    max_text_chars: int = 240
    min_groups: int = 3  # PatternStore.min_groups of the mined predictors
    max_calls: int | None = None  # replay only sessions with at most this many calls
    max_batch: int | None = None  # sequences decoding at once (None: unlimited when simulated)
    num_draft_tokens: int = 3  # draft tokens per step of the modes that draft (modes.py)
    engine_process: bool = False  # real model time: the engine in its own process (ProcessEngine)
    out: Path | None = None
    plots: bool = True
    progress: bool = True


def load_scripts(
    folders: list[Path],
    n: int,
    seed: int,
    tokenizer: Any,
    max_text_chars: int,
    max_calls: int | None = None,
) -> list[ReplayScript]:
    """A seeded sample of n sessions (all if fewer) of the folders, as checked scripts; with
    max_calls, only sessions with 1..max_calls recorded calls are eligible."""
    from paste.patterns.loaders import load_folder, source_folders_of
    from paste.patterns.trace import Trace

    traces: list[Trace] = []
    for folder in source_folders_of(folders):
        result = load_folder(folder, tenant=folder.name)
        for issue in result.issues:
            print(f"skipped malformed record: {folder}/{issue}", file=sys.stderr)
        for trace in result.traces:
            trace.source = folder.name
        traces.extend(
            t for t in result.traces if t.calls and (max_calls is None or len(t.calls) <= max_calls)
        )
    rng = random.Random(seed)
    chosen = rng.sample(traces, min(n, len(traces)))
    scripts = [build_script(t, max_text_chars) for t in chosen]
    for script in scripts:
        check_script(script, tokenizer)
    return scripts


def load_train(folders: list[Path]) -> dict[str, list[Any]]:
    """tenant (source folder name) -> that folder's traces (folders without any left out)."""
    from paste.patterns.loaders import load_folder, source_folders_of

    out: dict[str, list[Any]] = {}
    for folder in source_folders_of(folders):
        traces = load_folder(folder, tenant=folder.name).traces
        if traces:
            out.setdefault(folder.name, []).extend(traces)
    return out


def mine_predictors(train: dict[str, list[Any]], min_groups: int = 3) -> dict[str, Any]:
    """tenant -> Predictor mined on that tenant's traces only (`load_train`)."""
    from paste.patterns.mining import mine
    from paste.patterns.predictor import Predictor

    return {name: Predictor(mine(traces, name, min_groups)) for name, traces in train.items()}


def train_overlap(scripts: list[ReplayScript], train: dict[str, list[Any]]) -> int:
    """How many replayed sessions are also training sessions (same Trace.fingerprint, in
    whatever folder): their hits measure recall of the training set, not prediction."""
    seen = {t.fingerprint() for traces in train.values() for t in traces}
    return sum(s.fingerprint in seen for s in scripts)


def check_waste_options(price: float, max_ratio: float | None) -> None:
    """InvalidArgumentError before anything starts unless price is a finite number >= 0 and
    max_ratio None or a finite number >= 0."""
    if not 0.0 <= price < float("inf"):
        raise InvalidArgumentError(f"--waste-price must be a finite number >= 0, got {price!r}")
    check_max_waste_ratio(max_ratio, "--max-waste-ratio")


def check_run_options(sessions: int, concurrency: int, poisson_rate: float | None,
                      max_latency_s: float, budget: int, max_batch: int | None = None,
                      max_calls: int | None = None) -> None:
    """InvalidArgumentError before anything starts unless sessions, concurrency, max_batch
    and max_calls are >= 1 (the last two may be None), the Poisson rate is None or a finite
    rate > 0, the latency cap a finite number of seconds > 0 and the budget >= 0."""
    inf = float("inf")
    problems = [
        (sessions >= 1, f"--sessions must be >= 1, got {sessions}"),
        (concurrency >= 1, f"--concurrency must be >= 1, got {concurrency}"),
        (poisson_rate is None or 0.0 < poisson_rate < inf,
         f"--poisson must be a finite rate > 0 (sessions per second), got {poisson_rate!r}"),
        (0.0 < max_latency_s < inf,
         f"--max-latency must be a finite number of seconds > 0, got {max_latency_s!r}"),
        (budget >= 0, f"--budget must be >= 0, got {budget}"),
        (max_batch is None or max_batch >= 1, f"--max-batch must be >= 1, got {max_batch}"),
        (max_calls is None or max_calls >= 1, f"--max-calls must be >= 1, got {max_calls}"),
    ]
    for ok, message in problems:
        if not ok:
            raise InvalidArgumentError(message)


def make_engine(options: ReplayOptions) -> Any:
    if options.model_time == "simulated":
        from paste.bench.sim_engine import SimulatedEngine

        return SimulatedEngine(options.model, options.decode_tok_s, options.prefill_tok_s,
                               options.max_batch)
    if options.model_time == "real":
        from paste.engine.engine import Engine
        from paste.engine.process_engine import ProcessEngine

        settings: dict[str, Any] = {}
        if options.max_batch is not None:
            settings["max_num_seqs"] = options.max_batch
        if any(m.drafts for m in parse_modes(options.modes)):
            # configured for drafting, so its step costs are measured at load and drafts are
            # cut for goodput (EngineConfig.adaptive_drafts); the other modes' turns ask for none
            settings["num_draft_tokens"] = options.num_draft_tokens
        return (ProcessEngine if options.engine_process else Engine)(options.model, **settings)
    raise InvalidArgumentError(
        f"--model-time must be real or simulated, got {options.model_time!r}"
    )


def warm_up(engine: Any, prompts: int = 3) -> None:
    """A few short requests through a real engine before the first mode, so the first mode
    does not pay its cold start (first forward passes, allocator growth) alone; a
    SimulatedEngine has none."""
    if not hasattr(engine, "stats"):
        return
    from paste.engine.request import GenerationParams

    for i in range(prompts):
        for _ in engine.submit(engine.encode(f"warm up {i}"), GenerationParams(max_tokens=8)):
            pass


def replay(options: ReplayOptions, engine: Any = None) -> dict[str, Any]:
    """Runs every mode over the same sessions; writes report.json, report.md, timelines."""
    return run_replay(options, engine)[0]


def run_replay(
    options: ReplayOptions, engine: Any = None
) -> tuple[dict[str, Any], list[ModeRun], list[ReplayScript]]:
    """replay(), also returning every mode's sessions and the replayed scripts."""
    modes = parse_modes(options.modes)
    check_run_options(options.sessions, options.concurrency, options.poisson_rate,
                      options.max_latency_s, options.speculation_budget, options.max_batch,
                      options.max_calls)
    check_waste_options(options.waste_price, options.max_waste_ratio)
    check_transactions(options.transactions, "--transactions")
    if not 0 <= options.num_draft_tokens <= 64:
        raise InvalidArgumentError(
            f"--num-draft-tokens must be in [0, 64], got {options.num_draft_tokens}")
    own_engine = engine is None
    engine = engine or make_engine(options)
    try:
        scripts = load_scripts(
            options.traces,
            options.sessions,
            options.seed,
            engine.tokenizer,
            options.max_text_chars,
            options.max_calls,
        )
        if not scripts:
            raise InvalidArgumentError("no session with tool calls in --traces")
        train = load_train(options.train) if any(m.speculation for m in modes) else {}
        predictors = mine_predictors(train, options.min_groups)
        overlap = train_overlap(scripts, train)
        cfg = ReplayConfig(
            concurrency=options.concurrency, seed=options.seed,
            poisson_rate=options.poisson_rate,
            latency=LatencyModel(options.seed, dict(options.latency_overrides),
                                 options.max_latency_s),
            speculation_budget=options.speculation_budget, waste_price=options.waste_price,
            max_waste_ratio=options.max_waste_ratio, transactions=options.transactions,
            num_draft_tokens=options.num_draft_tokens,
        )  # fmt: skip
        warm_up(engine)
        if any(m.drafts for m in modes) and hasattr(engine, "prepare_call_drafts"):
            engine.prepare_call_drafts()  # a SimulatedEngine's, outside any timed turn
        runs = [_run(engine, scripts, m, predictors, cfg, options) for m in modes]
    finally:
        if own_engine:
            engine.shutdown()
    report = summarize(runs, _config(options, scripts, overlap))
    if options.out is not None:
        write_outputs(report, runs, options.out, options.plots)
    return report, runs, scripts


def _run(
    engine: Any,
    scripts: list[ReplayScript],
    mode: Mode,
    predictors: dict[str, Any],
    cfg: ReplayConfig,
    options: ReplayOptions,
) -> ModeRun:
    bar = None
    if options.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(scripts), desc=f"replay {mode.name}", file=sys.stderr, leave=False)
    try:
        return run_mode(engine, scripts, mode, predictors.get, cfg, bar)
    finally:
        if bar is not None:
            bar.close()


def _config(options: ReplayOptions, scripts: list[ReplayScript], overlap: int) -> dict[str, Any]:
    cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
    cfg["traces"] = [str(p) for p in options.traces]
    cfg["train"] = [str(p) for p in options.train]
    cfg["sources"] = sorted({s.source for s in scripts})
    cfg["num_recorded_calls"] = sum(len(s.calls) for s in scripts)
    cfg["sessions_replayed"] = len(scripts)
    cfg["train_overlap_sessions"] = overlap
    cfg["latency_overrides"] = {k: list(v) for k, v in options.latency_overrides.items()}
    for key in ("out", "plots", "progress"):
        cfg.pop(key, None)
    if options.model_time != "simulated":
        cfg.pop("decode_tok_s")
        cfg.pop("prefill_tok_s")
    else:
        cfg.pop("engine_process")
    return cfg


def write_outputs(
    report: dict[str, Any], runs: list[ModeRun], out: Path, plots: bool = True
) -> None:
    """report.json, report.md and (plots) one timeline-<mode>.png per mode into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out / "report.md").write_text(markdown(report))
    if not plots:
        return
    from paste.bench.plot import plot_timeline

    label = report["config"]["model_time"]
    for run in runs:
        plot_timeline(
            run, out / f"timeline-{run.mode.name}.png", f"{run.mode.name} ({label} model time)"
        )
