"""`paste bench replay` (recorded traces, docs/replay.md) and `paste bench live` (live workloads
with real local tools, docs/workloads.md), both as live paste sessions.

paste bench replay --traces DIR [DIR ...] --train DIR [DIR ...] [--sessions N]
    [--concurrency C] [--modes serial,paste,oracle[,paste-no-spec,paste-no-early,paste-no-kv,
    paste-no-cosched,paste-no-lookahead,paste-name,paste-perfect]]
    [--model NAME] [--model-time simulated|real] [--decode-tok-s R] [--prefill-tok-s P]
    [--seed S] [--poisson RATE] [--latency NAME=P50[:P90] ...] [--budget B] [--waste-price X]
    [--max-waste-ratio X|none] [--transactions none|worktree|all] [--json] [--out DIR]
paste bench live [--workloads research,coding,science] [--sessions N] [--concurrency C]
    [--modes serial,paste,oracle] [--model-time simulated|real] [--train-sessions N]
    [--latency-scale X] [--seed S] [--budget B] [--waste-price X] [--max-waste-ratio X|none]
    [--json] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from paste.cli.arg_types import waste_ratio_arg


def _emit(run: Callable[[], tuple[dict, Path]], as_json: bool) -> int:
    """Runs a benchmark (`run() -> (report, out folder)`), prints its JSON or table; a typed
    error (a bad option) propagates to `paste.cli.main`, which reports it."""
    from paste.bench.report import terminal_table

    report, out = run()
    if as_json:
        print(json.dumps(report, sort_keys=True))
    else:
        print(terminal_table(report))
        print(f"wrote {out}/report.json, report.md and timelines", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    def run() -> tuple[dict, Path]:
        from paste.bench.latency import parse_override
        from paste.bench.replay import ReplayOptions, replay

        overrides = dict(parse_override(t) for t in args.latency)
        traces = [Path(d) for d in args.traces]
        out = (
            Path(args.out)
            if args.out
            else Path("bench/out") / ("replay-" + "+".join(sorted(p.name for p in traces)))
        )
        options = ReplayOptions(
            traces=traces, train=[Path(d) for d in args.train], sessions=args.sessions,
            concurrency=args.concurrency, modes=args.modes, model=args.model,
            model_time=args.model_time, decode_tok_s=args.decode_tok_s,
            prefill_tok_s=args.prefill_tok_s, seed=args.seed, poisson_rate=args.poisson,
            latency_overrides=overrides, max_latency_s=args.max_latency,
            speculation_budget=args.budget, waste_price=args.waste_price,
            max_waste_ratio=args.max_waste_ratio, max_batch=args.max_batch,
            max_calls=args.max_calls, transactions=args.transactions, out=out,
            plots=not args.no_plots, num_draft_tokens=args.num_draft_tokens,
            engine_process=args.engine_process,
        )  # fmt: skip
        return replay(options), out

    return _emit(run, args.json)


def _live(args: argparse.Namespace) -> int:
    def run() -> tuple[dict, Path]:
        from paste.workloads.live import LiveOptions, live
        from paste.workloads.tasks import parse_workloads

        workloads = parse_workloads(args.workloads)
        out = Path(args.out) if args.out else Path("bench/out") / ("live-" + "+".join(workloads))
        options = LiveOptions(
            workloads=workloads, sessions=args.sessions, train_sessions=args.train_sessions,
            concurrency=args.concurrency, modes=args.modes, model=args.model,
            model_time=args.model_time, decode_tok_s=args.decode_tok_s,
            prefill_tok_s=args.prefill_tok_s, seed=args.seed, poisson_rate=args.poisson,
            latency_scale=args.latency_scale, max_latency_s=args.max_latency,
            speculation_budget=args.budget, waste_price=args.waste_price,
            max_waste_ratio=args.max_waste_ratio, out=out,
            plots=not args.no_plots,
        )  # fmt: skip
        return live(options), out

    return _emit(run, args.json)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """The options `replay` and `live` share: sessions at once, modes, model and its clock,
    arrivals, the speculation budget and the outputs."""
    p.add_argument("--concurrency", type=int, default=8, help="sessions running at once")
    p.add_argument("--modes", default="serial,paste,oracle",
                   help="comma list of serial, paste, oracle, paste-no-spec, paste-no-early, "
                   "paste-no-kv, paste-no-cosched, paste-no-lookahead, paste-name, "
                   "paste-perfect (the session's true next call predicted: a ceiling)")
    p.add_argument("--model", default="smollm2-135m-instruct",
                   help="model name or folder (its tokenizer is always used)")
    p.add_argument("--model-time", choices=("simulated", "real"), default="simulated",
                   help="simulated: token-rate clock; real: the real Engine")
    p.add_argument("--engine-process", action="store_true",
                   help="real: the engine in a process of its own (ProcessEngine), as "
                   "`paste serve` runs it; default: on a thread of the replay's process")
    p.add_argument("--decode-tok-s", type=float, default=113.7, help="simulated, per session")
    p.add_argument("--prefill-tok-s", type=float, default=38112.0, help="simulated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--poisson", type=float, default=None, metavar="RATE",
                   help="sessions arrive as a Poisson process of RATE per second")
    p.add_argument("--budget", type=int, default=16, help="global speculation budget")
    p.add_argument("--waste-price", type=float, default=0.1, metavar="X",
                   help="seconds of user wait one wasted speculative tool-second is worth "
                   "(admission's value check; default 0.1)")
    p.add_argument("--max-waste-ratio", type=waste_ratio_arg, default=0.5, metavar="X",
                   help="wasted speculative tool-seconds allowed per tool-second used, across "
                   "the run ('none': unbounded; default 0.5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-plots", action="store_true", help="skip the timeline PNGs")


def _add_live(sub: argparse._SubParsersAction) -> None:
    lv = sub.add_parser("live", help="live workloads with real local tools and scripted agents")
    lv.add_argument("--workloads", default="research,coding,science",
                    help="comma list of research, coding, science")
    lv.add_argument("--sessions", type=int, default=4, help="evaluated sessions per workload")
    lv.add_argument("--train-sessions", type=int, default=8,
                    help="training sessions per workload (other tasks; the predictor's data)")
    _add_run_args(lv)
    lv.add_argument("--latency-scale", type=float, default=1.0,
                    help="multiplies the corpus server's injected network latency")
    lv.add_argument("--max-latency", type=float, default=30.0, help="cap of one network delay")
    lv.add_argument("--out", default=None, help="default bench/out/live-<workloads>")
    lv.set_defaults(func=_live)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `bench` command and its sub-commands to the `paste` parser."""
    parser = subparsers.add_parser("bench", help="benchmark workloads (trace replay, live workloads)")
    sub = parser.add_subparsers(dest="bench_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda _args: (parser.print_help(), 2)[1])

    rp = sub.add_parser("replay", help="replay recorded traces as live sessions")
    rp.add_argument(
        "--traces",
        nargs="+",
        required=True,
        metavar="DIR",
        help="test trace folders (one per source)",
    )
    rp.add_argument(
        "--train",
        nargs="+",
        required=True,
        metavar="DIR",
        help="folders the predictor is mined on (one store per folder name)",
    )
    rp.add_argument("--sessions", type=int, default=20, help="sessions replayed (seeded sample)")
    _add_run_args(rp)
    rp.add_argument(
        "--latency",
        action="append",
        default=[],
        metavar="NAME=P50[:P90]",
        help="override a latency family, tool name or call kind (repeatable)",
    )
    rp.add_argument("--max-latency", type=float, default=60.0, help="cap of one tool latency")
    rp.add_argument(
        "--max-batch", type=int, default=None,
        help="sequences decoding at once; more turns queue by priority (load beyond saturation)",
    )  # fmt: skip
    rp.add_argument(
        "--max-calls", type=int, default=None, help="only sessions with at most this many calls"
    )
    rp.add_argument(
        "--transactions", choices=("none", "worktree", "all"), default="worktree",
        help="side-effecting calls that may run speculatively as transactions (staged on a "
        "private copy, committed on a hit): worktree = the coding sources' bash commands that "
        "stay in the working tree; all = also every side-effecting function-calling tool (only "
        "realistic for forkable in-process backends such as BFCL's); default worktree",
    )
    rp.add_argument(
        "--num-draft-tokens", type=int, default=3,
        help="speculative decoding: draft tokens per step in the modes that draft "
        "(paste-drafts, serial-drafts); default 3",
    )
    rp.add_argument("--out", default=None, help="default bench/out/replay-<source>")
    rp.set_defaults(func=_replay)
    _add_live(sub)
