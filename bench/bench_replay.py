"""Trace replay of every source of ../shared/traces in serial, paste and oracle modes, with
SIMULATED model time (PASTE's calibrated rates: 113.7 decode tok/s per session, 38112 prefill
tok/s); writes the `replay` section of bench/RESULTS.md and bench/out/replay-<source>/.

Run from the repo root: `python bench/bench_replay.py [--traces DIR] [--seed N] [--sessions N]`.
Each source is split 70/30 (seeded, `paste patterns split`); the predictor is mined on the
train part only; a seeded sample of test sessions is replayed in every mode side by side in
one run. Ratios are the numbers to read; absolute seconds depend on the latency model
(docs/replay.md) and the simulated token rates. `--real SOURCE[:N]` instead replays N sessions
of one source with REAL model time (the engine on this CPU) into the `replay-real` section.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from _results import markdown_table, write_section  # noqa: E402
from paste.bench.replay import ReplayOptions, replay  # noqa: E402
from paste.bench.report import miss_summary, ratio_spread  # noqa: E402
from paste.envs import num_threads  # noqa: E402
from paste.patterns.split import split_sources  # noqa: E402

DEFAULT_TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"
OUT = Path(__file__).resolve().parent / "out"
# Coding sources: only sessions with at most this many calls (the longest take minutes each
# in serial mode), so the whole script stays under ~10 min. A bias, stated in the table.
MAX_CALLS = {"mini-swe-agent-gemini3pro-swebv": 30, "swe-agent-demos": 12}
# The other sources' sessions are short (seconds each): a larger sample, so that a row's
# ratio does not ride on a few sessions (FireAct's comparison questions, where conjunct swaps
# hit, are one question in seven; the waste bound makes a small sample's hits path-dependent).
SHORT_SESSIONS = 24
# Load beyond saturation: this many sessions at once on an engine that decodes at most
# LOAD_BATCH turns at a time (the rest queue by priority, as in a real scheduler).
LOAD_SOURCES = ("bfcl-v4-multi-turn", "tau-bench-gpt4o-airline")
LOAD_SESSIONS, LOAD_BATCH = 16, 4
# The waste / speedup trade-off: these sources again without the waste budget (admission's
# max_waste_ratio; default 0.5 wasted tool-seconds per tool-second used): what the bound costs.
UNBOUNDED_WASTE_ROWS = ("tau-bench-gpt4o-airline",)
# Transactions (side-effecting calls staged on a private copy, committed on a hit): the default
# `worktree` covers the coding sources' bash commands that stay in the working tree; these rows
# rerun sources with another setting to show what the transactions add (`none`) and what
# forkable function-calling backends would add (`all`: BFCL's API classes run in-process).
TRANSACTION_ROWS = (("mini-swe-agent-gemini3pro-swebv", "none"), ("swe-agent-demos", "none"),
                    ("bfcl-v4-multi-turn", "all"), ("tau-bench-gpt4o-airline", "all"))
# The ceiling of speculation: every source with the default transactions, and these sources
# with other settings, again with the session's true next call predicted (mode paste-perfect,
# p = 1): what the engine's mechanics and the workload's timing allow whatever the predictor.
PERFECT_ROWS = (("bfcl-v4-multi-turn", "all"), ("tau-bench-gpt4o-airline", "all"))
# Name-known speculation (off by default): these sources again with it on (mode paste-name).
NAME_ROWS = ("bfcl-v4-multi-turn", "tau-bench-gpt4o-airline")
PUBLISHED = "published PASTE: -43.5% mean TCT, 1.8x lower observed tool latency vs serial"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


HEADERS = [
    "source",
    "sessions",
    "serial tool share",
    "serial TCT s",
    "paste TCT s",
    "oracle TCT s",
    "paste / serial",
    "task ratio p10 / median / p90",
    "tasks slower",
    "serial->oracle captured",
    "observed tool s serial / paste",
    "hits / calls",
    "misses: not speculable / unpredicted / refused / discarded",
    "waste s (/ serial tool s)",
    "prefix hit serial / paste",
]


def _row(label: str, report: dict, max_calls: int | None, spec: str = "paste") -> list[str]:
    m = report["modes"]
    s, p = m["serial"], m[spec]
    o = m[p.get("oracle_reference") or "oracle"]  # a drafting mode's ceiling: oracle-drafts
    return [
        label, f"{p['sessions']}" + (f" (<= {max_calls} calls)" if max_calls else ""),
        f"{s['serial_tool_share']:.0%}",
        f"{s['mean_tct_s']:.2f}", f"{p['mean_tct_s']:.2f}", f"{o['mean_tct_s']:.2f}",
        f"{p['tct_ratio_vs_serial']:.3f}", ratio_spread(p),
        _pct(p["share_tasks_slower_than_serial"]), _pct(p["oracle_gap_captured"]),
        f"{s['mean_observed_tool_latency_s']:.3f} / {p['mean_observed_tool_latency_s']:.3f}",
        f"{p['hits']} / {p['authoritative_calls']}"
        + (f" ({p['committed']} committed)" if p.get("committed") else ""),
        miss_summary(p),
        f"{p['waste_s']:.1f} ({_ratio(p['waste_ratio'])})",
        f"{s['prefix_hit_ratio']:.2f} / {p['prefix_hit_ratio']:.2f}",
    ]  # fmt: skip


def _default_dtype(model: str) -> str:
    """The dtype the engine's default ("auto") runs `model` in on this machine."""
    from paste.engine.dtypes import resolve_dtype
    from paste.engine.models.config import ModelConfig
    from paste.models.store import resolve_model

    return resolve_dtype("auto", ModelConfig.from_folder(resolve_model(model)).checkpoint_dtype,
                         "cpu")


def real_model(args: argparse.Namespace, split: Path) -> None:
    """`--real SOURCE:N`: N sessions of SOURCE with REAL model time (the engine on this CPU,
    teacher-forced turns); writes the `replay-real` section."""
    source, _, n = args.real.partition(":")
    test = split / "test" / source
    if not test.is_dir():
        raise SystemExit(f"--real: no source {source!r} in {args.traces}")
    t0 = time.monotonic()
    options = ReplayOptions(
        traces=[test], train=[split / "train" / source], sessions=int(n or 3),
        concurrency=int(n or 3), modes="serial,paste,paste-drafts,oracle,oracle-drafts",
        model=args.model,
        model_time="real", seed=args.seed, max_calls=MAX_CALLS.get(source),
        out=OUT / f"replay-real-{source}", num_draft_tokens=args.num_draft_tokens,
    )  # fmt: skip
    report = replay(options)
    body = (
        f"REAL model time: {args.model} in {_default_dtype(args.model)} (the engine's default) "
        f"on this CPU ({num_threads()} torch threads), every turn "
        "teacher-forced through the engine; tool latencies as in the "
        "simulated table. CPU decoding is far slower than GPU serving, so the tool share is "
        "small here; this table shows paste's mechanisms on the real engine, not the headline. "
        f"paste-drafts is paste plus speculative decoding ({args.num_draft_tokens} draft tokens "
        "per step from prompt lookup and the predicted calls; a forced turn accepts the drafts "
        "its recorded text continues with, modes.py); its oracle is oracle-drafts, the oracle "
        "on the same drafting engine.\n\n"
        + markdown_table(HEADERS, [_row(source, report, MAX_CALLS.get(source)),
                                   _row(f"{source} (paste-drafts)", report,
                                        MAX_CALLS.get(source), spec="paste-drafts")])
        + f"\n\nTotal {time.monotonic() - t0:.0f} s.\n"
    )
    write_section("replay-real", body, f"python bench/bench_replay.py --real {args.real} "
                  f"--num-draft-tokens {args.num_draft_tokens}")
    print(body)


DRAFT_MODES = "serial,serial-drafts,paste,paste-drafts,oracle,oracle-drafts"


def drafts_table(args: argparse.Namespace, split: Path) -> None:
    """`--drafts`: every source with and without speculative decoding (modes.py), SIMULATED
    model time; writes the `replay-drafts` section."""
    t0 = time.monotonic()
    rows = []
    for test in sorted((split / "test").iterdir()):
        max_calls = MAX_CALLS.get(test.name)
        options = ReplayOptions(
            traces=[test], train=[split / "train" / test.name], sessions=args.sessions,
            concurrency=args.sessions, modes=DRAFT_MODES, model=args.model, seed=args.seed,
            max_calls=max_calls, num_draft_tokens=args.num_draft_tokens,
            out=OUT / f"replay-drafts-{test.name}",
        )  # fmt: skip
        m = replay(options)["modes"]
        rows.append([test.name, f"{m['serial']['sessions']}", f"{m['serial']['mean_tct_s']:.2f}"]
                    + [f"{m[name]['tct_ratio_vs_serial']:.3f}"
                       for name in ("serial-drafts", "paste", "paste-drafts", "oracle",
                                    "oracle-drafts")]
                    + [_pct(m["paste"]["oracle_gap_captured"]),
                       _pct(m["paste-drafts"]["oracle_gap_captured"]),
                       _pct(m["paste-drafts"]["share_tasks_slower_than_serial"])])
        print(f"{test.name}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    body = (
        "SIMULATED model time as in the replay table (113.7 decode tok/s per session); "
        f"speculative decoding with {args.num_draft_tokens} prompt-lookup draft tokens per "
        "step: each recorded turn commits, per step, the drafts its text continues with plus "
        "one token, and a drafted step costs one plain step (the GPU assumption: verifying a "
        "few tokens of a small batch is memory-bound like a decode step; on this CPU it is "
        "not, see bench_drafts). Drafts come from the predicted call while the model writes "
        "it (the engine's CallWatch), else from prompt lookup. serial-drafts is serial plus "
        "the drafts alone; oracle-drafts is the oracle on the drafting engine, the ceiling of "
        "paste-drafts (its 'captured' is the share of the serial->oracle-drafts gap; paste's "
        "of the serial->oracle gap). Mean TCT ratios vs serial, same sessions and tool "
        "latencies in every mode.\n\n"
        + markdown_table(["source", "sessions", "serial TCT s", "serial-drafts / serial",
                          "paste / serial", "paste-drafts / serial", "oracle / serial",
                          "oracle-drafts / serial", "paste captured",
                          "paste-drafts captured", "paste-drafts tasks slower"], rows)
        + f"\n\n{PUBLISHED}. Total {time.monotonic() - t0:.0f} s.\n"
    )
    write_section("replay-drafts", body, f"python bench/bench_replay.py --drafts --sessions "
                  f"{args.sessions} --num-draft-tokens {args.num_draft_tokens}")
    print(body)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", default=str(DEFAULT_TRACES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sessions", type=int, default=8,
                    help="per coding source (and per source of --drafts), all concurrent")
    ap.add_argument("--short-sessions", type=int, default=SHORT_SESSIONS,
                    help="per source of short sessions (function calling, search), all "
                    "concurrent")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--num-draft-tokens", type=int, default=3,
                    help="draft tokens per step of the drafting modes (--real, --drafts)")
    ap.add_argument("--real", default=None, metavar="SOURCE[:N]",
                    help="ONLY replay N sessions of SOURCE with real model time (replay-real)")
    ap.add_argument("--drafts", action="store_true",
                    help="ONLY replay every source with and without speculative decoding "
                    "(replay-drafts)")
    args = ap.parse_args()
    if args.drafts:
        with tempfile.TemporaryDirectory() as tmp:
            split_sources(Path(args.traces), Path(tmp), 0.3, args.seed)
            drafts_table(args, Path(tmp))
        return 0
    if args.real:
        with tempfile.TemporaryDirectory() as tmp:
            split_sources(Path(args.traces), Path(tmp), 0.3, args.seed)
            real_model(args, Path(tmp))
        return 0
    started = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        split = Path(tmp)
        split_sources(Path(args.traces), split, 0.3, args.seed)
        defaults = ReplayOptions([], [])
        default, tx = defaults.max_waste_ratio, defaults.transactions
        def sample(name: str) -> int:
            return args.sessions if name in MAX_CALLS else args.short_sessions

        runs = [(test, sample(test.name), None, default, tx, "paste")
                for test in sorted((split / "test").iterdir())]
        runs += [(split / "test" / name, LOAD_SESSIONS, LOAD_BATCH, default, tx, "paste")
                 for name in LOAD_SOURCES if (split / "test" / name).is_dir()]
        runs += [(split / "test" / name, LOAD_SESSIONS, LOAD_BATCH, default, tx, "paste-no-cosched")
                 for name in LOAD_SOURCES if (split / "test" / name).is_dir()]
        runs += [(split / "test" / name, sample(name), None, None, tx, "paste")
                 for name in UNBOUNDED_WASTE_ROWS if (split / "test" / name).is_dir()]
        runs += [(split / "test" / name, sample(name), None, default, setting, "paste")
                 for name, setting in TRANSACTION_ROWS if (split / "test" / name).is_dir()]
        runs += [(split / "test" / name, sample(name), None, default, tx, "paste-name")
                 for name in NAME_ROWS if (split / "test" / name).is_dir()]
        perfect = [(test.name, tx) for test in sorted((split / "test").iterdir())]
        perfect += list(PERFECT_ROWS)
        runs += [(split / "test" / name, sample(name), None, default, setting, "paste-perfect")
                 for name, setting in perfect if (split / "test" / name).is_dir()]
        for test, n, batch, ratio, transactions, spec in runs:
            max_calls = MAX_CALLS.get(test.name)
            label = test.name if batch is None else f"{test.name}, load: batch {batch}"
            suffix = "" if batch is None else "-load"
            if ratio != default:
                label, suffix = f"{label}, waste unbounded", f"{suffix}-unbounded"
            if transactions != tx:
                label = f"{label}, transactions {transactions}"
                suffix = f"{suffix}-tx-{transactions}"
            if spec == "paste-perfect":
                label, suffix = f"{label}, PERFECT prediction", f"{suffix}-perfect"
            elif spec == "paste-name":
                label, suffix = f"{label}, name known", f"{suffix}-name"
            elif spec == "paste-no-cosched":
                label, suffix = f"{label}, no co-scheduling", f"{suffix}-no-cosched"
            options = ReplayOptions(
                traces=[test], train=[split / "train" / test.name], sessions=n,
                concurrency=n, modes=f"serial,{spec},oracle", model=args.model,
                seed=args.seed, max_calls=max_calls, max_batch=batch, max_waste_ratio=ratio,
                transactions=transactions, out=OUT / f"replay-{test.name}{suffix}",
            )  # fmt: skip
            t0 = time.monotonic()
            report = replay(options)
            rows.append(_row(label, report, max_calls, spec))
            print(f"{label}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    body = (
        "SIMULATED model time (113.7 decode tok/s per session, 38112 prefill tok/s); tool "
        "latencies from the seeded per-family lognormal model (docs/replay.md); all sessions "
        "of a source run concurrently; modes side by side in one run. Rows marked `load` run "
        f"{LOAD_SESSIONS} sessions at once on an engine that decodes at most {LOAD_BATCH} turns "
        "at a time (the others queue by priority): load beyond saturation; paste's turns returning "
        "from tools or following a user's follow-up go first (co-scheduling, the server's "
        "default policy; serial has none), and rows marked `no co-scheduling` are paste without "
        "it (ablation paste-no-cosched). Admission prices a "
        "wasted tool-second at 0.1 s of user wait (`--waste-price`) and keeps the realized "
        "waste plus the expected latency of every speculative job in flight within 0.5 "
        "tool-seconds per tool-second used (`--max-waste-ratio`, the target); rows marked `waste unbounded` rerun a source "
        "without that bound. Waste is also shown over serial's tool-seconds (the target is "
        "<= 0.5x). Side-effecting calls run speculatively only as transactions (staged on a "
        "private copy, committed on a hit; `--transactions`): by default the coding sources' "
        "bash commands that stay in the working tree (a copy-on-write tree in a real harness; "
        "modelled here, commit 10 ms); rows marked `transactions none` rerun a source without "
        "them, `transactions all` also stages side-effecting function-calling tools, realistic "
        "only for forkable in-process backends such as BFCL's API classes and tau-bench's "
        "in-memory database. Rows marked `name known` rerun a source with name-known "
        "speculation on (mode paste-name, off by default): the calls of a tool are predicted "
        "and admitted the moment the model has written its name. Rows marked "
        "`PERFECT prediction` are a ceiling, not paste: the session's true next call is "
        "predicted with p = 1 (mode paste-perfect), so they show what speculation could "
        "capture with a perfect predictor, given the engine's mechanics and the workload's "
        "timing. Each miss has one cause (docs/replay.md, \"Misses by cause\"): the call may "
        "not run speculatively (its effects, with no transaction for it), no prediction of it "
        "reached admission, admission refused it (value, waste bound, budget), or its job was "
        "launched and discarded before the call came (stale after a side effect, cut, "
        "failed).\n\n"
        + markdown_table(HEADERS, rows)
        + f"\n\n{PUBLISHED}. Total {time.monotonic() - started:.0f} s.\n"
    )
    write_section("replay", body, "python bench/bench_replay.py")
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
