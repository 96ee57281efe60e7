"""Agents over the OpenAI API under load: co-scheduling of returning turns on vs off.

Recorded sessions of the function-calling sources (seed-0 70/30 split of ../shared/traces, a
seeded sample of the test part) run as HTTP agent clients (paste.bench.http_agents) against
a real paste server (create_app + uvicorn, loopback) whose model time is SIMULATED at PASTE's
GPU rates with at most --batch turns decoding at once; all sessions start together, beyond
the engine's saturation. The same sessions and seeded tool latencies run twice, side by
side: the server's default (co-scheduling: a turn continuing a conversation goes first) and
--no-coscheduling. Speculation and early dispatch do not apply (the clients run their own
tools); both modes keep each session's KV under its prompt_cache_key.

Run from the repo root: `python bench/bench_http_agents.py [--sessions 16] [--batch 4]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from _results import markdown_table, write_section  # noqa: E402
from paste.bench.http_agents import TeacherForcedServer, run_client  # noqa: E402
from paste.bench.latency import LatencyModel  # noqa: E402
from paste.bench.replay import load_scripts  # noqa: E402
from paste.bench.runner import offered_tools  # noqa: E402
from paste.bench.sim_engine import SimulatedEngine  # noqa: E402
from paste.envs import default_model  # noqa: E402
from paste.patterns.split import split_sources  # noqa: E402
from paste.server import BackgroundServer, ServerConfig, create_app  # noqa: E402

DEFAULT_TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"
SOURCES = ("bfcl-v4-multi-turn", "tau-bench-gpt4o-airline")


def run_mode(scripts, coscheduling: bool, batch: int, seed: int) -> list[float]:
    """The TCT of every session with the server's co-scheduling on or off."""
    stamp = f"{time.monotonic():.6f}"
    keys = {s.session_id: f"{s.session_id}-{stamp}" for s in scripts}
    engine = TeacherForcedServer(SimulatedEngine(default_model(), max_batch=batch),
                                 {keys[s.session_id]: s for s in scripts})
    config = ServerConfig(model_id="sim", tool_call_parser="json", coscheduling=coscheduling,
                          enable_speculation=False, learn_patterns=False)
    latency = LatencyModel(seed=seed)
    with BackgroundServer(create_app(engine, config)) as server:
        start = time.monotonic() + 0.2
        with ThreadPoolExecutor(max_workers=len(scripts)) as pool:
            records = list(pool.map(lambda s: run_client(
                server.url, "sim", s, offered_tools(s, scripts), latency, keys[s.session_id],
                start), scripts))
    recorded = [sum(1 for t in s.calls) for s in scripts]
    made = [len(r.calls) for r in records]
    if made != recorded:
        raise SystemExit(f"the clients made {made} calls, the scripts record {recorded}")
    return [r.tct_s for r in records]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", default=str(DEFAULT_TRACES))
    ap.add_argument("--sessions", type=int, default=16, help="per source, all at once")
    ap.add_argument("--batch", type=int, default=4, help="turns the engine decodes at once")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from transformers import AutoTokenizer

    from paste.models.store import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(default_model()))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        split = Path(tmp)
        split_sources(Path(args.traces), split, 0.3, args.seed)
        for source in SOURCES:
            scripts = load_scripts([split / "test" / source], args.sessions, args.seed,
                                   tokenizer, 240)
            on = run_mode(scripts, True, args.batch, args.seed)
            off = run_mode(scripts, False, args.batch, args.seed)
            ratios = sorted(a / b for a, b in zip(on, off, strict=True))
            row = [source, str(len(scripts)), f"{statistics.mean(off):.2f}",
                   f"{statistics.mean(on):.2f}", f"{statistics.mean(on) / statistics.mean(off):.3f}",
                   f"{ratios[len(ratios) // 2]:.3f}",
                   f"{sum(r > 1.0 for r in ratios) / len(ratios):.0%}"]
            rows.append(row)
            print(" | ".join(row), flush=True)
    body = (
        f"HTTP agent clients (POST /v1/chat/completions with their recorded tools and "
        f"prompt_cache_key) against a real paste server; SIMULATED model time (113.7 decode "
        f"tok/s per session, 38112 prefill tok/s), at most {args.batch} turns decoding at once, "
        f"all sessions of a source at once (beyond saturation); seeded tool latencies "
        f"(docs/replay.md), run by the clients; the same sessions with the server's "
        f"co-scheduling on (default) and off, side by side.\n\n"
        + markdown_table(["source", "sessions", "mean TCT s, no co-scheduling",
                          "mean TCT s, co-scheduling", "ratio", "median task ratio",
                          "tasks slower"], rows)
    )
    write_section("bench_http_agents", body,
                  f"python bench/bench_http_agents.py --sessions {args.sessions} "
                  f"--batch {args.batch} --seed {args.seed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
