"""Scheduler overhead per engine step: paste's C++ BatchLoop vs the same policy in Python.

For 1, 16, 64, 256 and 1024 running sequences of mixed lengths (fixed seed), measures the time
of one steady-state decode step: schedule() + reading the plan arrays a model runner needs +
commit(). The Python baseline (bench/py_scheduler.py) runs in the same process, same inputs.
Writes the table to bench/RESULTS.md. Usage: python bench/bench_scheduler.py [--steps N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import markdown_table, write_section  # noqa: E402
from paste.core import BatchLoop, BatchLoopConfig  # noqa: E402
from py_scheduler import PyScheduler  # noqa: E402

PLAN_FIELDS = ("input_ids", "positions", "slot_mapping", "query_start_loc", "seq_lens",
               "kv_indptr", "kv_indices", "kv_last_page_len", "logits_indices", "sample_seq_ids")
BLOCK_SIZE = 16


def prompts(n: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(32000) for _ in range(rng.randint(16, 512))] for _ in range(n)]


def num_blocks_for(ps: list[list[int]], steps: int) -> int:
    return max(sum((len(p) + steps + 8) // BLOCK_SIZE + 2 for p in ps), 4096 // BLOCK_SIZE) + 64


def time_paste(ps, steps: int) -> float:
    cfg = BatchLoopConfig(num_blocks=num_blocks_for(ps, steps), block_size=BLOCK_SIZE,
                          max_num_seqs=len(ps), max_num_batched_tokens=1 << 20,
                          max_model_len=4096)
    loop = BatchLoop(cfg)
    for p in ps:
        loop.add_sequence(p, max_tokens=1 << 20)
    plan = loop.schedule(0.0)  # prefill
    loop.commit(np.ones(len(plan.sample_seq_ids), dtype=np.int32))
    sampled = np.full(len(ps), 7, dtype=np.int32)
    t0 = time.perf_counter()
    for s in range(steps):
        plan = loop.schedule(float(s))
        for f in PLAN_FIELDS:
            getattr(plan, f)
        loop.commit(sampled)
    return (time.perf_counter() - t0) / steps


def time_python(ps, steps: int) -> float:
    sched = PyScheduler(num_blocks_for(ps, steps), BLOCK_SIZE, len(ps), 1 << 20)
    for p in ps:
        sched.add_sequence(p, max_tokens=1 << 20)
    plan = sched.schedule()
    sched.commit([1] * len(plan["sample_seq_ids"]))
    sampled = [7] * len(ps)
    t0 = time.perf_counter()
    for _ in range(steps):
        plan = sched.schedule()
        for f in PLAN_FIELDS:
            plan[f]
        sched.commit(sampled)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for n in (1, 16, 64, 256, 1024):
        ps = prompts(n, args.seed)
        steps = max(20, args.steps * 64 // max(n, 64))
        # Best of 3 runs each, interleaved, to damp the noise of a shared machine.
        t_c = min(time_paste(ps, steps) for _ in range(3))
        t_py = min(time_python(ps, steps) for _ in range(3))
        rows.append([n, f"{t_c * 1e6:.1f}", f"{t_py * 1e6:.1f}", f"{t_py / t_c:.1f}x"])
        print(f"{n:5d} seqs  paste {t_c * 1e6:9.1f} us/step   python {t_py * 1e6:9.1f} us/step"
              f"   ratio {t_py / t_c:6.1f}x", flush=True)
    table = markdown_table(
        ["running seqs", "paste C++ BatchLoop (us/step)", "Python baseline (us/step)",
         "speed-up"], rows)
    note = ("Steady-state decode step: schedule() + reading the 10 plan arrays a model runner "
            "uses + commit(); prompts of 16-512 tokens (seed 0), block size 16; best of 3.")
    write_section("Scheduler step overhead (bench_scheduler.py)", note + "\n\n" + table,
                  "python bench/bench_scheduler.py")


if __name__ == "__main__":
    main()
