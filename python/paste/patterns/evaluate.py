"""Held-out evaluation: mine on train folders, predict every call of the test folders before
seeing it, score against the call that actually followed.

Per source and overall, with the number of calls as the denominator of every rate:
top-1/3/5 exact canonical-call accuracy, top-1/3 tool-kind accuracy, argument accuracy given
the right tool (top-1 call exact among calls whose top-1 kind was right; its own denominator
`arg_calls`), calibration bins over every emitted prediction (mean predicted p vs hit rate), and
the bigram baseline's numbers; `hits` holds the counts behind the rates, so reports of several
splits pool exactly (report.pool_reports). Each source is mined into its own store (one agent
= one tenant); paste's own JSONL records carry their tenant, and each tenant of a source is
mined apart and predicts only its own test sessions.
Where a source records the tools a session was offered (Trace.tools), the predictor and the
baseline alike only consider those tools, as a server knows the request's tool list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from paste.patterns.baseline import BigramBaseline
from paste.patterns.loaders import load_folder, source_folders_of
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.replay import replay
from paste.patterns.trace import LoadIssue, Trace

NUM_BINS = 10


@dataclass
class Tally:
    """Hit counters for one source (or overall)."""

    calls: int = 0
    hits: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "top1_call",
                "top3_call",
                "top5_call",
                "top1_tool",
                "top3_tool",
                "arg_hits",
                "arg_calls",
                "baseline_top1_call",
                "baseline_top3_call",
                "baseline_top5_call",
                "baseline_top1_tool",
                "baseline_top3_tool",
            ),
            0,
        )
    )
    bins: list[list[float]] = field(default_factory=lambda: [[0, 0.0, 0] for _ in range(NUM_BINS)])

    def add(self, other: Tally) -> None:
        self.calls += other.calls
        for key, v in other.hits.items():
            self.hits[key] += v
        for mine_, theirs in zip(self.bins, other.bins, strict=True):
            for i in range(3):
                mine_[i] += theirs[i]

    def report(self) -> dict:
        n = self.calls
        out: dict = {"calls": n}
        for key, v in self.hits.items():
            if key in ("arg_hits", "arg_calls"):
                continue
            out[key] = round(v / n, 4) if n else 0.0
        out["arg_calls"] = self.hits["arg_calls"]
        out["arg_given_tool"] = (
            round(self.hits["arg_hits"] / self.hits["arg_calls"], 4)
            if self.hits["arg_calls"]
            else 0.0
        )
        out["calibration"] = [
            {
                "bin": f"{i / NUM_BINS:.1f}-{(i + 1) / NUM_BINS:.1f}",
                "predictions": int(b[0]),
                "mean_p": round(b[1] / b[0], 4),
                "hit_rate": round(b[2] / b[0], 4),
            }
            for i, b in enumerate(self.bins)
            if b[0]
        ]
        total = sum(b[0] for b in self.bins)
        out["ece"] = round(sum(abs(b[1] - b[2]) for b in self.bins) / total, 4) if total else 0.0
        out["hits"] = dict(self.hits)  # the counts behind the rates (report.pool_reports)
        return out


def evaluate_source(train: list[Trace], test: list[Trace], tenant: str = "default") -> Tally:
    """Tally of one source and tenant: mine on `train`, replay `test` (all of `tenant`)."""
    predictor = Predictor(mine(train, tenant=tenant))
    baseline = BigramBaseline(train)
    tally = Tally()
    h = tally.hits
    for trace in test:
        prev = "<s>"
        for state, step in replay(trace):
            call = step.call
            assert call is not None
            tally.calls += 1
            preds = predictor.predict(state, 5)
            canon = [p.canonical for p in preds]
            truth = call.canonical
            for k in (1, 3, 5):
                h[f"top{k}_call"] += truth in canon[:k]
            kinds = [kd for kd, _p in predictor.kind_ranking(state)]
            kinds = list(dict.fromkeys(kd.rstrip("!") for kd in kinds))
            h["top1_tool"] += call.kind in kinds[:1]
            h["top3_tool"] += call.kind in kinds[:3]
            if kinds[:1] == [call.kind]:
                h["arg_calls"] += 1
                same = [p.canonical for p in preds if p.kind == call.kind][:1]
                h["arg_hits"] += same == [truth]
            for p in preds:
                b = tally.bins[min(int(p.probability * NUM_BINS), NUM_BINS - 1)]
                b[0] += 1
                b[1] += p.probability
                b[2] += p.canonical == truth
            base = baseline.predict(prev, 5, trace.tools)
            for k in (1, 3, 5):
                h[f"baseline_top{k}_call"] += truth in [c for _kd, c in base[:k]]
            h["baseline_top1_tool"] += call.kind in [kd for kd, _c in base[:1]]
            h["baseline_top3_tool"] += call.kind in [kd for kd, _c in base[:3]]
            prev = call.kind
    return tally


def evaluate_leave_one_out(dirs: list[Path]) -> dict:
    """The report of `evaluate`, with every task group of each source (and tenant) held out
    in turn and predicted by a store mined on the rest of its source: for sources too small
    to split (ToolBench's 15 sessions), each group costs one mining. Sessions of one group
    (tau-bench's trials of a task) are held out together, so none predicts its own task;
    `train_overlap_sessions` counts held-out sessions identical to one of the rest, and
    `train_sessions` is the fewest sessions any of the source's stores was mined on."""
    issues: list[LoadIssue] = []
    data = _load(dirs, issues)
    per_source: dict[str, tuple[Tally, int, int]] = {}
    for name in sorted(data):
        tally, overlap, fewest = Tally(), 0, len(data[name])
        for tenant in sorted({t.tenant for t in data[name]}):
            traces = [t for t in data[name] if t.tenant == tenant]
            for group in sorted({t.group for t in traces}):
                held = [t for t in traces if t.group == group]
                rest = [t for t in traces if t.group != group]
                tally.add(evaluate_source(rest, held, tenant))
                overlap += _overlap(rest, held)
                fewest = min(fewest, len(rest))
        per_source[name] = (tally, overlap, fewest)
    return _report(per_source, issues)


def _overlap(train: list[Trace], test: list[Trace]) -> int:
    """How many of `test` are also in `train` (Trace.fingerprint)."""
    seen = {t.fingerprint() for t in train}
    return sum(t.fingerprint() in seen for t in test)


def _report(per_source: dict[str, tuple[Tally, int, int]], issues: list[LoadIssue]) -> dict:
    """The JSON-ready report of per-source (tally, train overlap, train sessions) triples."""
    overall = Tally()
    sources = {}
    for name, (tally, overlap, n_train) in per_source.items():
        sources[name] = tally.report()
        sources[name]["train_overlap_sessions"] = overlap
        sources[name]["train_sessions"] = n_train
        overall.add(tally)
    report = overall.report()
    report["train_overlap_sessions"] = sum(s["train_overlap_sessions"] for s in sources.values())
    return {"sources": sources, "overall": report, "issues": [str(i) for i in issues]}


def _load(dirs: list[Path], issues: list[LoadIssue]) -> dict[str, list[Trace]]:
    by_source: dict[str, list[Trace]] = {}
    for d in source_folders_of(dirs):
        result = load_folder(d)
        issues.extend(LoadIssue(f"{d}/{i.location}", i.message) for i in result.issues)
        by_source.setdefault(result.source, []).extend(result.traces)
    return by_source


def evaluate(train_dirs: list[Path], test_dirs: list[Path]) -> dict:
    """The evaluation report (see module docstring) as a JSON-ready dict; `issues` lists
    every malformed record that was skipped while loading, and `train_overlap_sessions`
    (per source and overall) counts the test sessions that are also training sessions
    (Trace.fingerprint): held-out numbers need 0. `train_sessions` (per source) counts the
    sessions its store was mined on: 0 when no --train folder is of its source, whose calls
    are then predicted from nothing."""
    issues: list[LoadIssue] = []
    train, test = _load(train_dirs, issues), _load(test_dirs, issues)
    per_source: dict[str, tuple[Tally, int, int]] = {}
    for name in sorted(test):
        tally = Tally()
        for tenant in sorted({t.tenant for t in test[name]}):
            tally.add(
                evaluate_source(
                    [t for t in train.get(name, []) if t.tenant == tenant],
                    [t for t in test[name] if t.tenant == tenant],
                    tenant,
                )
            )
        per_source[name] = (tally, _overlap(train.get(name, []), test[name]),
                            len(train.get(name, [])))
    return _report(per_source, issues)
