"""Plain-text tables of an evaluation report (the dict `evaluate.evaluate` returns)."""

from __future__ import annotations

COLUMNS = (
    ("calls", "calls"),
    ("top1_call", "call@1"),
    ("top3_call", "call@3"),
    ("top5_call", "call@5"),
    ("top1_tool", "tool@1"),
    ("top3_tool", "tool@3"),
    ("arg_given_tool", "args|tool"),
    ("baseline_top1_tool", "base tool@1"),
    ("baseline_top1_call", "base call@1"),
    ("baseline_top5_call", "base call@5"),
)


def pool_reports(reports: list[dict]) -> dict:
    """Reports of several splits (evaluate.evaluate, e.g. one per seed) pooled: per source
    and overall, the calls and hit counts summed and the rates recomputed from the sums (as
    Tally.report), so a source weighs by its calls in each split. A source missing from a
    split adds nothing there. `{"sources": {name: entry}, "overall": entry}`; calibration is
    not pooled (the entries have no `calibration` or `ece`)."""
    from paste.patterns.evaluate import Tally  # evaluate loads the predictor; only needed here

    def tally(entry: dict) -> Tally:
        t = Tally(calls=entry["calls"])
        t.hits.update(entry["hits"])
        return t

    def rates(t: Tally) -> dict:
        out = t.report()
        del out["calibration"], out["ece"]
        return out

    sums: dict[str, Tally] = {}
    overall = Tally()
    for report in reports:
        for name, entry in report["sources"].items():
            sums.setdefault(name, Tally()).add(tally(entry))
        overall.add(tally(report["overall"]))
    return {"sources": {name: rates(t) for name, t in sorted(sums.items())},
            "overall": rates(overall)}


def rows(report: dict) -> list[list[str]]:
    """One row per source plus `overall`: name, then the COLUMNS values (rates as %)."""
    out = []
    for name, r in list(report["sources"].items()) + [("overall", report["overall"])]:
        row = [name]
        for key, _title in COLUMNS:
            row.append(str(r[key]) if key == "calls" else f"{100 * r[key]:.1f}")
        out.append(row)
    return out


def format_report(report: dict) -> str:
    """The accuracy table, the argument denominators and the overall calibration table."""
    headers = ["source"] + [t for _k, t in COLUMNS]
    table = [headers] + rows(report)
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    lines.append("")
    lines.append("rates are % of `calls`; args|tool is % of calls whose top-1 tool was right:")
    for name, r in report["sources"].items():
        lines.append(f"  {name}: {r['arg_calls']} calls with the right top-1 tool")
    lines.append("")
    lines.append(
        "calibration (overall, every emitted prediction): bin  predictions  mean_p  hit_rate"
    )
    for b in report["overall"]["calibration"]:
        lines.append(f"  {b['bin']}  {b['predictions']:>8}  {b['mean_p']:.3f}  {b['hit_rate']:.3f}")
    lines.append(f"  expected calibration error: {report['overall']['ece']:.4f}")
    return "\n".join(lines)
