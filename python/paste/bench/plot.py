"""Timeline PNG of one replay mode: one row per session, model time vs tool time vs speculation.

Bars per row (seconds from the mode's start): model turns (blue, each turn's submit to last
token), authoritative tool waits (orange, each call's dispatch to its result, the observed tool
latency) and speculative tool runs (green, thin, lower half of the row). Uses matplotlib's Agg
backend (no display needed).
"""

from __future__ import annotations

from pathlib import Path

from paste.bench.runner import ModeRun


def plot_timeline(run: ModeRun, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sessions = sorted(run.sessions, key=lambda r: r.start_s)
    fig, ax = plt.subplots(figsize=(12, max(2.0, 0.35 * len(sessions) + 1)))
    for row, rec in enumerate(sessions):
        base = rec.start_s
        turns = [(base + t["started_at"], t["model_s"]) for t in rec.metrics["turns"]]
        ax.broken_barh(turns, (row - 0.4, 0.8), facecolors="tab:blue")
        waits = [
            (base + t["dispatched_at"], max(t["observed_s"], 1e-3))
            for k, t in rec.timings.items()
            if k.startswith("call_")
        ]
        ax.broken_barh(waits, (row - 0.4, 0.8), facecolors="tab:orange", alpha=0.8)
        spec = [
            (base + t.started_at - rec.t0, max(t.finished_at - t.started_at, 1e-3))
            for t in rec.tool_runs
            if t.speculative
        ]
        ax.broken_barh(spec, (row - 0.4, 0.3), facecolors="tab:green")
    ax.set_yticks(range(len(sessions)))
    ax.set_yticklabels([r.session_id[-24:] for r in sessions], fontsize=6)
    ax.set_xlabel("seconds since the mode started")
    ax.set_title(f"{title}: model (blue), tool wait (orange), speculative runs (green)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
