"""Linear layers with the measured matmul orientation (TunedLinear) vs plain F.linear, same
engine, same run.

One engine of the real model; every setting decodes the same prompts (greedy, fixed output
length) with the tuned plans on and with them cleared (every layer then runs F.linear, what
paste did before), alternating off / on twice per batch size so a load change on this shared
machine hits both; the best run of each is kept, and outputs are compared token for token.
Also reports how long tuning took at load and each weight shape's plan. Writes
bench/RESULTS.md.

Usage: python bench/bench_tuned_linear.py [--model qwen2.5-coder-0.5b-instruct]
       [--max-tokens 48] [--batches 1,4,8,16] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import markdown_table, write_section  # noqa: E402

WORDS = ("agent tool search result file code test model cache token batch schedule answer "
         "question paris france python function value error").split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--batches", default="1,4,8,16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("PASTE_NUM_THREADS",
                                                                          "2")))
    args = parser.parse_args()
    from paste.engine.engine import Engine
    from paste.engine.models.tuned_linear import TunedLinear
    from paste.engine.request import GenerationParams

    rng = random.Random(args.seed)
    engine = Engine(args.model, num_threads=args.threads, seed=0)  # tuned at load
    try:
        model = engine.core.runner.model
        plans, tune_s = engine.core.runner.linear_plans, engine.core.runner.tune_seconds
        layers = [m for m in model.modules() if isinstance(m, TunedLinear)]
        tuned = [(layer.rows_transposed, layer.row_vector) for layer in layers]
        batches = [int(b) for b in args.batches.split(",")]
        prompts = [engine.encode(" ".join(rng.choice(WORDS) for _ in range(rng.randint(24, 64))))
                   for _ in range(max(batches))]
        params = GenerationParams(max_tokens=args.max_tokens, ignore_eos=True)
        engine.generate(prompts, GenerationParams(max_tokens=1))  # prompts cached, warm
        table = []
        for batch in batches:
            best: dict[str, float] = {}
            outputs: dict[str, list] = {}
            for mode in ("off", "on", "off", "on"):
                for layer, (rows, vector) in zip(layers, tuned, strict=True):
                    layer.rows_transposed = rows if mode == "on" else ()
                    layer.row_vector = vector and mode == "on"
                t0 = time.perf_counter()
                outs = engine.generate(prompts[:batch], params)
                rate = batch * args.max_tokens / (time.perf_counter() - t0)
                best[mode] = max(best.get(mode, 0.0), rate)
                outputs[mode] = [o.token_ids for o in outs]
            same = "yes" if outputs["on"] == outputs["off"] else "NO"
            row = [str(batch), f"{best['off']:.1f}", f"{best['on']:.1f}",
                   f"{best['on'] / best['off']:.2f}x", same]
            table.append(row)
            print(" | ".join(row), flush=True)
    finally:
        engine.shutdown()
    shapes = [[f"{o} x {i}", ("V" if plan.row_vector else "T" if plan.rows_transposed[1]
                              else ".") + "".join("T" if t else "." for t in
                                                  plan.rows_transposed[2:17])]
              for (o, i), plan in plans.items()]
    body = (
        f"Model {args.model}, greedy, {args.max_tokens} new tokens per prompt (prompts of 24-64 "
        f"words, seed {args.seed}, KV cached before timing), {args.threads} torch threads; "
        "tok/s is the best of two runs per setting, run off / on / off / on. Tuning took "
        f"{tune_s:.1f} s at load.\n\n"
        + markdown_table(["batch", "F.linear (tok/s)", "TunedLinear (tok/s)", "speed-up",
                          "same output"], table)
        + "\n\nPlans measured in this run, row counts 1-16 (T: (W @ x.T).T was faster; V: "
        "at one row, W @ x was):\n\n"
        + markdown_table(["weight (out x in)", "rows 1..16"], shapes)
    )
    write_section("bench_tuned_linear", body,
                  f"python bench/bench_tuned_linear.py --model {args.model} --max-tokens "
                  f"{args.max_tokens} --batches {args.batches} --seed {args.seed}")


if __name__ == "__main__":
    main()
