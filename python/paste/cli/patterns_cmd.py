"""`paste patterns`: split trace folders, evaluate next-call prediction, mine a PatternStore,
update one with completed sessions.

paste patterns split --src DIR --out DIR [--test-fraction F] [--seed N]
paste patterns eval --train DIR [DIR ...] --test DIR [DIR ...] [--json]
paste patterns eval --test DIR [DIR ...] --leave-one-out [--json]
paste patterns mine --train DIR [DIR ...] --out FILE [--tenant NAME]
paste patterns update --store FILE --traces DIR [DIR ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from paste.errors import InvalidArgumentError


def _split(args: argparse.Namespace) -> int:
    from paste.patterns.split import split_sources

    counts = split_sources(Path(args.src), Path(args.out), args.test_fraction, args.seed)
    for name, (n_train, n_test) in sorted(counts.items()):
        print(f"{name}: {n_train} train, {n_test} test sessions")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from paste.patterns.evaluate import evaluate, evaluate_leave_one_out
    from paste.patterns.report import format_report

    if args.leave_one_out:
        if args.train:
            raise InvalidArgumentError("--leave-one-out mines on the rest of --test: no --train")
        report = evaluate_leave_one_out([Path(d) for d in args.test])
    elif not args.train:
        raise InvalidArgumentError("--train is required (or --leave-one-out)")
    else:
        report = evaluate([Path(d) for d in args.train], [Path(d) for d in args.test])
    for issue in report["issues"]:
        print(f"skipped malformed record: {issue}", file=sys.stderr)
    for name, row in sorted(report["sources"].items()):
        if row["calls"] and not row["train_sessions"]:
            print(f"warning: {name}: no training sessions of this source (no --train folder "
                  "of it, or an empty one): its calls are predicted from nothing",
                  file=sys.stderr)
    overlap = report["overall"]["train_overlap_sessions"]
    if overlap:
        print(f"warning: {overlap} test sessions are also training sessions: these numbers "
              "are not held-out (paste patterns split makes disjoint folders)", file=sys.stderr)
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print(format_report(report))
    return 0


def _mine(args: argparse.Namespace) -> int:
    from paste.patterns.errors import PatternStoreError
    from paste.patterns.loaders import load_folder, source_folders_of
    from paste.patterns.mining import mine

    out = Path(args.out)
    if not out.parent.is_dir():  # checked before the mining, not after it
        raise InvalidArgumentError(f"--out {args.out}: folder {out.parent} does not exist")
    traces = []
    for d in source_folders_of(args.train):
        result = load_folder(d, tenant=args.tenant)
        for issue in result.issues:
            print(f"skipped malformed record: {d}/{issue}", file=sys.stderr)
        traces.extend(result.traces)
    store = mine(traces, tenant=args.tenant)
    try:
        store.save(out)
    except OSError as exc:
        raise PatternStoreError(f"cannot write {args.out}: {exc}") from exc
    print(f"mined {len(traces)} sessions into {args.out}")
    return 0


def _update(args: argparse.Namespace) -> int:
    from paste.patterns.errors import PatternStoreError
    from paste.patterns.loaders import paste_jsonl, source_folders_of, source_module
    from paste.patterns.store import PatternStore

    out = Path(args.out or args.store)
    if not out.parent.is_dir():  # checked before the update, not after it
        raise InvalidArgumentError(f"--out {out}: folder {out.parent} does not exist")
    store = PatternStore.load(Path(args.store))
    traces, foreign = [], 0
    for d in source_folders_of(args.traces):
        # paste's own records carry their tenant: another tenant's are never learned; the
        # other formats have none, their sessions are the store's tenant's
        module = source_module(d)
        result = module.load(d) if module is paste_jsonl else module.load(d, store.tenant)
        for issue in result.issues:
            print(f"skipped malformed record: {d}/{issue}", file=sys.stderr)
        kept = [t for t in result.traces if t.tenant == store.tenant]
        foreign += len(result.traces) - len(kept)
        traces.extend(kept)
    if foreign:
        print(f"skipped {foreign} sessions of other tenants than {store.tenant!r}",
              file=sys.stderr)
    fits = 0  # next-tool models installed (refits and new choices)
    for trace in traces:
        model = store.tool_model
        store.update(trace)
        fits += store.tool_model is not model
    tmp = out.with_name(f".{out.name}.tmp")
    try:  # written whole, then renamed: an interrupted update leaves the old file
        store.save(tmp)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PatternStoreError(f"cannot write {out}: {exc}") from exc
    refits = (f"; next-tool model fits: {fits}, weight {store.tool_mix:g}"
              if store.history is not None else "")
    print(f"updated {args.store} with {len(traces)} sessions into {out} ({store.num_sessions} "
          f"sessions in all{refits})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `patterns` command and its sub-commands to the `paste` parser."""
    parser = subparsers.add_parser("patterns", help="mine and evaluate tool-call patterns")
    sub = parser.add_subparsers(dest="patterns_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda _args: (parser.print_help(), 2)[1])

    split = sub.add_parser("split", help="seeded train/test split of trace source folders")
    split.add_argument("--src", required=True, help="a folder of source folders, or one source")
    split.add_argument("--out", required=True, help="writes OUT/train/<source>, OUT/test/<source>")
    split.add_argument("--test-fraction", type=float, default=0.3)
    split.add_argument("--seed", type=int, default=0)
    split.set_defaults(func=_split)

    ev = sub.add_parser("eval", help="mine on --train, predict every call of --test")
    ev.add_argument("--train", nargs="+", metavar="DIR")
    ev.add_argument("--test", nargs="+", required=True, metavar="DIR")
    ev.add_argument("--leave-one-out", action="store_true",
                    help="no --train: hold out each task group of --test in turn and mine on "
                         "the rest of its source (for small sources; one mining per group)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=_eval)

    mn = sub.add_parser("mine", help="mine a PatternStore file from trace folders")
    mn.add_argument("--train", nargs="+", required=True, metavar="DIR")
    mn.add_argument("--out", required=True, metavar="FILE")
    mn.add_argument("--tenant", default="default")
    mn.set_defaults(func=_mine)

    up = sub.add_parser("update", help="update a PatternStore file with completed sessions")
    up.add_argument("--store", required=True, metavar="FILE", help="a mined or updated store")
    up.add_argument("--traces", nargs="+", required=True, metavar="DIR",
                    help="trace folders (paste JSONL records of other tenants are skipped)")
    up.add_argument("--out", metavar="FILE", help="where to write it (default: --store)")
    up.set_defaults(func=_update)
