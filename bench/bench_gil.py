"""The engine's decode beside another busy Python thread of the same process, at Python's
default GIL switch interval (5 ms) and at the one `paste serve` sets (0.1 ms), with the engine
on a thread of that process (Engine) and in a process of its own (ProcessEngine).

The engine thread gives the GIL up around every torch op; when another thread of the process
runs Python (an HTTP handler, a tool written in Python, online learning), the engine thread
gets it back only when that thread is made to drop it, after the switch interval. Measured
side by side in one run: decode tokens/s alone and beside a thread that runs Python without
pause, and that thread's own work rate alone and beside the decode (what the shorter interval
costs it). In its own process the engine's step loop has an interpreter to itself; only the
parent's thread that reads its outputs shares the GIL with the busy thread.
smollm2-135m-instruct, 1 torch thread, greedy, 4 requests decoding together, tokens per second
over --window seconds (the engine's own count); best of --reps.

Usage (from the repo root): python bench/bench_gil.py [--reps 3] [--window 10]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, rerun_command, write_section  # noqa: E402
from paste.server.serve import SWITCH_INTERVAL_S  # noqa: E402

PYTHON_DEFAULT_S = 0.005


def _busy(stop: threading.Event, counter: list[int]) -> None:
    while not stop.is_set():
        sum(i * i for i in range(200))
        counter[0] += 1


def _work_rate(seconds: float) -> float:
    """Loops per second of _busy alone."""
    stop, counter = threading.Event(), [0]
    thread = threading.Thread(target=_busy, args=(stop, counter))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return counter[0] / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0,
                        help="seconds each decode rate is measured over (default 10)")
    args = parser.parse_args()
    from paste.engine.engine import Engine
    from paste.engine.process_engine import ProcessEngine

    rows = []
    for name, cls in (("thread", Engine), ("own process", ProcessEngine)):
        engine = cls("smollm2-135m-instruct", num_threads=1)
        rows += _measure(engine, name, args.reps, args.window)
        engine.shutdown()
    body = (
        f"smollm2-135m-instruct, 1 torch thread, 4 requests decoding together (greedy), "
        f"tokens per second over {args.window:g} s windows, best of {args.reps}; "
        "the busy thread runs a Python loop without pause. Switch interval "
        f"{PYTHON_DEFAULT_S * 1000:g} ms is Python's default, {SWITCH_INTERVAL_S * 1000:g} ms "
        "the one `paste serve` sets. Engine: on a thread of the busy thread's process "
        "(Engine), or in its own process (ProcessEngine, `paste serve`'s default).\n\n"
        + markdown_table(
            ["engine", "switch interval ms", "decode tok/s alone",
             "beside a busy Python thread", "slow-down", "busy thread loops/s alone",
             "beside the decode"],
            rows,
        )
    )
    print(body)
    write_section("bench_gil", body, rerun_command("bench_gil.py", parser, args))


def _tok_s(engine: Any, prompts: list[list[int]], window_s: float) -> float:
    """Tokens per second the engine decodes for `prompts` over `window_s` (its own count,
    engine.stats()); the requests are then aborted. A window, not a fixed token count: beside
    a busy thread at the default interval a fixed count took minutes."""
    from paste.engine.request import GenerationParams

    params = GenerationParams(max_tokens=1024, ignore_eos=True)
    handles = [engine.submit(p, params) for p in prompts]
    for handle in handles:  # every request has started decoding
        next(iter(handle))
    start, before = time.perf_counter(), engine.stats().num_generated_tokens
    time.sleep(window_s)
    done = engine.stats().num_generated_tokens - before
    spent = time.perf_counter() - start
    for handle in handles:
        handle.abort()
        handle.result()
    return done / spent


def _measure(engine: Any, name: str, reps: int, window_s: float) -> list[list[str]]:
    prompts = [engine.tokenizer.encode(f"agent {i}: search the file, then run the tests")
               for i in range(4)]
    _tok_s(engine, prompts, 1.0)  # warm
    rows = []
    for interval in (PYTHON_DEFAULT_S, SWITCH_INTERVAL_S):
        sys.setswitchinterval(interval)
        alone = max(_tok_s(engine, prompts, window_s) for _ in range(reps))
        rate_alone = _work_rate(2.0)
        stop, counter = threading.Event(), [0]
        thread = threading.Thread(target=_busy, args=(stop, counter))
        thread.start()
        time.sleep(0.2)
        beside, loops, spent = 0.0, 0, 0.0
        for _ in range(reps):
            start, before = time.perf_counter(), counter[0]
            beside = max(beside, _tok_s(engine, prompts, window_s))
            spent += time.perf_counter() - start
            loops += counter[0] - before
        stop.set()
        thread.join()
        rate_beside = loops / spent
        rows.append([name, f"{interval * 1000:g}", f"{alone:.1f}", f"{beside:.1f}",
                     f"{alone / beside:.1f}x" if beside else "none decoded in a window",
                     f"{rate_alone:.0f}", f"{rate_beside:.0f}"])
        print(rows[-1], flush=True)
    sys.setswitchinterval(PYTHON_DEFAULT_S)
    return rows


if __name__ == "__main__":
    main()
