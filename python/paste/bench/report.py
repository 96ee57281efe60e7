"""Summaries of replay runs: the JSON report, the terminal table and the Markdown summary.

Per mode (keys read by external checks; keep them): mean/p50/p95/p99 TCT, mean observed tool
latency (from each call's dispatch to its result, the session trace's `observed_s`),
authoritative calls, hits, misses, speculative jobs, waste (tool-seconds of unused
speculation), tokens/s (output tokens over the mode's wall time), prefix-hit ratio (cached /
prompt tokens over all turns), tool-wait share (time sessions waited for tools after their
turns / TCT), and against serial: the per-task TCT ratio (`task_ratios_vs_serial` by session,
its median, its nearest-rank quantiles `task_ratio_quantiles` min/p10/p25/p50/p75/p90/max,
the share of tasks slower than serial) and the share of the serial -> oracle TCT reduction
the mode captured (`oracle_gap_captured`; for a drafting mode the oracle is oracle-drafts when
it ran, named by `oracle_reference`); `miss_causes` is the misses by cause (speculation/misscause.py: the call
could not run speculatively, was never predicted for its position, was predicted but refused by
admission, or was launched and discarded before the call came; they sum to `misses`);
`committed` is the hits that committed a transaction's staged side effects
(bench/tools.py); tool_s is the tool-seconds of the results the sessions got, waste_ratio the
mode's waste over serial's tool_s (the tool work the calls need).
"""

from __future__ import annotations

import statistics
from typing import Any

from paste.bench.runner import ModeRun
from paste.speculation.misscause import CAUSES


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(min(rank, len(ordered))) - 1]


# The per-task ratio's distribution in the report: (key, nearest-rank percentile).
QUANTILES = (("min", 0.0), ("p10", 10.0), ("p25", 25.0), ("p50", 50.0), ("p75", 75.0),
             ("p90", 90.0), ("max", 100.0))


def _mode_summary(run: ModeRun) -> dict[str, Any]:
    s = run.sessions
    tcts = [r.tct_s for r in s]
    observed = [t["observed_s"] for r in s for k, t in r.timings.items() if k.startswith("call_")]
    calls = sum(r.metrics["num_tool_calls"] for r in s)
    prompt = sum(r.metrics["num_prompt_tokens"] for r in s)
    cached = sum(r.metrics["num_cached_tokens"] for r in s)
    out_tokens = sum(r.metrics["num_output_tokens"] for r in s)
    wait = sum(r.metrics["tool_wait_s"] for r in s)
    spec = run.speculation or {}
    hits = int(spec.get("hits", 0))
    speculative_runs = sum(1 for r in s for t in r.tool_runs if t.speculative)
    return {
        "sessions": len(s),
        "completed_sessions": sum(all(x == "completed" for x in r.statuses) for r in s),
        "mean_tct_s": statistics.fmean(tcts) if tcts else 0.0,
        "p50_tct_s": percentile(tcts, 50),
        "p95_tct_s": percentile(tcts, 95),
        "p99_tct_s": percentile(tcts, 99),
        "mean_observed_tool_latency_s": statistics.fmean(observed) if observed else 0.0,
        "authoritative_calls": calls,
        "hits": hits,
        "hits_reused": int(spec.get("hits_reused", 0)),
        "hits_awaited": int(spec.get("hits_awaited", 0)),
        "hits_promoted": int(spec.get("hits_promoted", 0)),
        "committed": int(spec.get("committed", 0)),
        "misses": int(spec.get("misses", calls)) if run.speculation is not None else calls,
        "hit_rate": hits / calls if calls else 0.0,
        "speculative_jobs": int(spec.get("speculative_jobs", 0)),
        "chained_jobs": int(spec.get("chained_jobs", 0)),
        "lookahead_jobs": int(spec.get("lookahead_jobs", 0)),
        "named_jobs": int(spec.get("named_jobs", 0)),
        "speculative_tool_runs": speculative_runs,
        "waste_s": float(spec.get("waste_s", 0.0)),
        "tool_s": sum(r.metrics["tool_s"] for r in s),
        "rejected": dict(spec.get("rejected", {}) or {}),
        "miss_causes": dict(spec.get("miss_causes", {}) or {}),
        "tokens_per_s": out_tokens / run.wall_s if run.wall_s > 0 else 0.0,
        "output_tokens": out_tokens,
        "wall_s": run.wall_s,
        "prefix_hit_ratio": cached / prompt if prompt else 0.0,
        "tool_wait_share": wait / sum(tcts) if sum(tcts) > 0 else 0.0,
    }


def summarize(runs: list[ModeRun], config: dict[str, Any]) -> dict[str, Any]:
    """The JSON report `{"modes": {...}, "config": {...}}` (module docstring)."""
    modes = {run.mode.name: _mode_summary(run) for run in runs}
    by_name = {run.mode.name: run for run in runs}
    serial = modes.get("serial")
    for name, summary in modes.items():
        summary["serial_tool_share"] = serial["tool_wait_share"] if serial else None
        summary["waste_ratio"] = (summary["waste_s"] / serial["tool_s"]
                                  if serial and serial["tool_s"] > 0 else None)
        if serial is None:
            continue
        base = {r.session_id: r.tct_s for r in by_name["serial"].sessions}
        by_task = {r.session_id: r.tct_s / base[r.session_id]
                   for r in by_name[name].sessions if base.get(r.session_id)}
        ratios = list(by_task.values())
        summary["tct_ratio_vs_serial"] = (
            summary["mean_tct_s"] / serial["mean_tct_s"] if serial["mean_tct_s"] else None
        )
        summary["median_task_ratio_vs_serial"] = statistics.median(ratios) if ratios else None
        summary["share_tasks_slower_than_serial"] = (
            sum(x > 1.0 for x in ratios) / len(ratios) if ratios else None
        )
        summary["task_ratios_vs_serial"] = by_task
        summary["task_ratio_quantiles"] = (
            {q: percentile(ratios, x) for q, x in QUANTILES} if ratios else None
        )
        # A drafting mode's ceiling is the oracle with drafts when it ran (modes.py).
        reference = "oracle-drafts" if (by_name[name].mode.drafts
                                        and "oracle-drafts" in modes) else "oracle"
        ceiling = modes.get(reference)
        gap = serial["mean_tct_s"] - ceiling["mean_tct_s"] if ceiling else 0.0
        summary["oracle_gap_captured"] = (
            (serial["mean_tct_s"] - summary["mean_tct_s"]) / gap if gap > 0 else None
        )
        summary["oracle_reference"] = reference if ceiling else None
    return {"modes": modes, "config": config}


def _f(value: Any, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(value)


COLUMNS = [
    "mode",
    "sessions",
    "mean TCT s",
    "p50",
    "p95",
    "p99",
    "x serial",
    "median task x",
    "slower tasks",
    "oracle gap captured",
    "observed tool s",
    "hits / calls",
    "waste s",
    "tok/s",
    "prefix hit",
]


def rows(report: dict[str, Any]) -> list[list[str]]:
    out = []
    for name, m in report["modes"].items():
        out.append([
            name, str(m["sessions"]), _f(m["mean_tct_s"]), _f(m["p50_tct_s"]),
            _f(m["p95_tct_s"]), _f(m["p99_tct_s"]), _f(m.get("tct_ratio_vs_serial")),
            _f(m.get("median_task_ratio_vs_serial")),
            _f(m.get("share_tasks_slower_than_serial"), "{:.0%}"),
            _f(m.get("oracle_gap_captured"), "{:.0%}"), _f(m["mean_observed_tool_latency_s"]),
            f"{m['hits']} / {m['authoritative_calls']}", _f(m["waste_s"], "{:.2f}"),
            _f(m["tokens_per_s"], "{:.0f}"), _f(m["prefix_hit_ratio"], "{:.2f}"),
        ])  # fmt: skip
    return out


def terminal_table(report: dict[str, Any]) -> str:
    table = [COLUMNS] + rows(report)
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    cfg = report["config"]
    share = next(iter(report["modes"].values())).get("serial_tool_share")
    head = (
        f"replay of {cfg.get('sources')} ({cfg.get('model_time')} model time, "
        f"serial tool share {_f(share, '{:.0%}')})"
    )
    causes = [f"misses of {name} by cause: " + ", ".join(
        f"{c} {m['miss_causes'][c]}" for c in CAUSES if m["miss_causes"].get(c))
        for name, m in report["modes"].items() if m.get("miss_causes")]
    return "\n".join([head] + lines + causes + overlap_warning(cfg))


def overlap_warning(cfg: dict[str, Any]) -> list[str]:
    """A line saying how many replayed sessions the predictor was mined on, if any."""
    n = cfg.get("train_overlap_sessions", 0)
    if not n:
        return []
    return [f"WARNING: {n} of the {cfg.get('sessions_replayed')} replayed sessions are also in "
            "--train: the predictor was mined on them, so hits are optimistic (use disjoint "
            "folders: paste patterns split)"]


def ratio_spread(mode: dict[str, Any]) -> str:
    """A mode's per-task ratio against serial as "p10 / median / p90" ("-" without serial)."""
    q = mode.get("task_ratio_quantiles")
    if q is None:
        return "-"
    return f"{q['p10']:.2f} / {mode['median_task_ratio_vs_serial']:.2f} / {q['p90']:.2f}"


def ratio_rows(report: dict[str, Any]) -> list[list[str]]:
    """Per mode compared with serial: the per-task TCT ratio's quantiles and the share of
    tasks slower than serial."""
    out = []
    for name, m in report["modes"].items():
        q = m.get("task_ratio_quantiles")
        if q is None:
            continue
        out.append([name] + [_f(q[k]) for k, _x in QUANTILES]
                   + [_f(m.get("share_tasks_slower_than_serial"), "{:.0%}")])
    return out


# Miss causes in the reports, short: admission's refusals grouped as "refused".
CAUSE_GROUPS = (("not speculable", ("not_speculable", "policy")),
                ("unpredicted", ("unpredicted",)),
                ("refused", ("estimates", "value", "waste", "cpu", "budget")),
                ("discarded", ("discarded",)))


def miss_summary(mode: dict[str, Any]) -> str:
    """A mode's misses by cause group, "not speculable / unpredicted / refused / discarded"
    ("-" for a mode that does not speculate)."""
    causes = mode.get("miss_causes") or {}
    if not causes:
        return "-"
    return " / ".join(str(sum(causes.get(c, 0) for c in group)) for _n, group in CAUSE_GROUPS)


def cause_rows(report: dict[str, Any]) -> list[list[str]]:
    """Per speculating mode: its misses, then the count of each cause (misscause.CAUSES)."""
    out = []
    for name, m in report["modes"].items():
        causes = m.get("miss_causes") or {}
        if causes:
            out.append([name, str(m["misses"])] + [str(causes.get(c, 0)) for c in CAUSES])
    return out


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table; floats keep the formatting given by the caller
    (the bench scripts' tables too: bench/_results.py)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    cfg = "\n".join(f"- {k}: {v}" for k, v in sorted(report["config"].items()))
    ratios = ratio_rows(report)
    dist = ""
    if ratios:
        columns = ["mode"] + [k for k, _x in QUANTILES] + ["slower tasks"]
        dist = ("\n\nPer-task TCT / the same task's serial TCT (nearest-rank quantiles over "
                f"tasks):\n\n{markdown_table(columns, ratios)}")
    causes = cause_rows(report)
    if causes:
        dist += ("\n\nMisses by cause (docs/replay.md, \"Misses by cause\"):\n\n"
                 f"{markdown_table(['mode', 'misses', *CAUSES], causes)}")
    warning = "".join(f"\n\n**{line}**" for line in overlap_warning(report["config"]))
    return (f"# Trace replay\n\n{markdown_table(COLUMNS, rows(report))}{warning}{dist}\n\n"
            f"Configuration:\n{cfg}\n")
