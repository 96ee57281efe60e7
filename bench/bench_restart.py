"""What an engine process restart costs (ProcessEngine(max_restarts), `paste serve
--engine-restarts`): the time from SIGKILL of the engine process (a request in flight) until
the new one serves, beside the engine's cold start in the same run; and a session's next turn
after the restart (its parked KV is gone: the whole transcript is prefilled again) beside the
same turn with the KV parked. smollm2-135m-instruct, 2 torch threads, greedy, fixed prompts;
times are medians of --reps.

Usage (from the repo root): python bench/bench_restart.py [--reps 3] [--transcript-tokens 1500]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, rerun_command, write_section  # noqa: E402

MODEL = "smollm2-135m-instruct"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--transcript-tokens", type=int, default=1500)
    args = parser.parse_args()
    from paste.engine.process_engine import ProcessEngine
    from paste.engine.request import GenerationParams

    cold = []
    for _ in range(args.reps):
        start = time.perf_counter()
        ProcessEngine(MODEL, num_threads=2).shutdown()
        cold.append(time.perf_counter() - start)
    engine = ProcessEngine(MODEL, num_threads=2, max_restarts=args.reps + 1)
    try:
        transcript = _transcript(engine, args.transcript_tokens)
        turn = GenerationParams(max_tokens=1, ignore_eos=True)
        parked, lost, restart = [], [], []
        for rep in range(args.reps):
            key = f"session-{rep}"
            engine.submit_turn(key, transcript, turn).result()  # the KV is parked now
            parked.append(_turn_s(engine, key, transcript + [rep + 11], turn))
            engine.submit_turn(key, transcript, turn).result()
            handle = engine.submit(engine.encode("A request in flight"),
                                   GenerationParams(max_tokens=500, ignore_eos=True))
            next(iter(handle))
            start = time.perf_counter()
            os.kill(engine.pid, signal.SIGKILL)
            while not (engine.restarting or engine.failure):  # the death is seen
                time.sleep(0.001)
            assert engine.wait_ready(600), engine.failure
            restart.append(time.perf_counter() - start)
            lost.append(_turn_s(engine, key, transcript + [rep + 11], turn))
    finally:
        engine.shutdown()
    rows = [
        ["engine cold start (constructor to ready)", f"{statistics.median(cold):.2f}"],
        ["restart: SIGKILL to the new process ready", f"{statistics.median(restart):.2f}"],
        [f"next turn of a {len(transcript)}-token session, KV parked",
         f"{statistics.median(parked):.3f}"],
        [f"the same turn after a restart (KV gone, {len(transcript)} tokens prefilled)",
         f"{statistics.median(lost):.3f}"],
    ]
    body = (
        f"{MODEL}, 2 torch threads, the engine in its own process (ProcessEngine); medians of "
        f"{args.reps}. A turn's time is submit to its first token (1 output token): the "
        "prefill of what the engine does not hold.\n\n"
        + markdown_table(["measure", "seconds"], rows)
    )
    print(body)
    write_section("bench_restart", body, rerun_command("bench_restart.py", parser, args))


def _transcript(engine: Any, tokens: int) -> list[int]:
    """A fixed conversation of about `tokens` token ids (a tool output repeated)."""
    piece = engine.encode("tool result: the file src/app.py has 120 lines; tests pass. ")
    return (piece * (tokens // len(piece) + 1))[:tokens]


def _turn_s(engine: Any, key: str, conversation: list[int], params: Any) -> float:
    start = time.perf_counter()
    engine.submit_turn(key, conversation, params).result()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
