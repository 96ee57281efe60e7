"""The engine's decode beside another busy Python thread of the same process, at Python's
default GIL switch interval (5 ms) and at the one `paste serve` sets (0.1 ms).

The engine thread gives the GIL up around every torch op; when another thread of the process
runs Python (an HTTP handler, a tool written in Python, online learning), the engine thread
gets it back only when that thread is made to drop it, after the switch interval. Measured
side by side in one run: decode tokens/s alone and beside a thread that runs Python without
pause, and that thread's own work rate alone and beside the decode (what the shorter interval
costs it). smollm2-135m-instruct, 1 torch thread, greedy, 4 prompts x 16 tokens; best of --reps.

Usage (from the repo root): python bench/bench_gil.py [--reps 3]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, write_section  # noqa: E402
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
    args = parser.parse_args()
    from paste.engine.engine import Engine
    from paste.engine.request import GenerationParams

    engine = Engine("smollm2-135m-instruct", num_threads=1)
    prompts = [engine.tokenizer.encode(f"agent {i}: search the file, then run the tests")
               for i in range(4)]
    params = GenerationParams(max_tokens=16, ignore_eos=True)

    def tok_s() -> float:
        start = time.perf_counter()
        engine.generate(prompts, params)
        return len(prompts) * params.max_tokens / (time.perf_counter() - start)

    tok_s()  # warm
    rows = []
    for interval in (PYTHON_DEFAULT_S, SWITCH_INTERVAL_S):
        sys.setswitchinterval(interval)
        alone = max(tok_s() for _ in range(args.reps))
        rate_alone = _work_rate(2.0)
        stop, counter = threading.Event(), [0]
        thread = threading.Thread(target=_busy, args=(stop, counter))
        thread.start()
        time.sleep(0.2)
        beside, loops, spent = 0.0, 0, 0.0
        for _ in range(args.reps):
            start, before = time.perf_counter(), counter[0]
            beside = max(beside, tok_s())
            spent += time.perf_counter() - start
            loops += counter[0] - before
        stop.set()
        thread.join()
        rate_beside = loops / spent
        rows.append([f"{interval * 1000:g}", f"{alone:.1f}", f"{beside:.1f}",
                     f"{alone / beside:.1f}x", f"{rate_alone:.0f}", f"{rate_beside:.0f}"])
        print(rows[-1], flush=True)
    sys.setswitchinterval(PYTHON_DEFAULT_S)
    engine.shutdown()
    body = (
        f"smollm2-135m-instruct, 1 torch thread, 4 prompts x 16 tokens, best of {args.reps}; "
        "the busy thread runs a Python loop without pause. Switch interval "
        f"{PYTHON_DEFAULT_S * 1000:g} ms is Python's default, {SWITCH_INTERVAL_S * 1000:g} ms "
        "the one `paste serve` sets.\n\n"
        + markdown_table(
            ["switch interval ms", "decode tok/s alone", "beside a busy Python thread",
             "slow-down", "busy thread loops/s alone", "beside the decode"],
            rows,
        )
    )
    print(body)
    command = "python bench/bench_gil.py"
    if args.reps != 3:
        command += f" --reps {args.reps}"
    write_section("bench_gil", body, command)


if __name__ == "__main__":
    main()
