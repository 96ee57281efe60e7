"""Predicted outputs (OpenAI's `prediction`, engine/prediction.py) vs decoding without drafts
and vs prompt lookup, same run, same engine.

A coding agent rewrites code a tool printed (mini-swe-agent's `sed -n` / `cat` output, from
../shared/traces, development split) with a comment above every `def`; the agent knows the
answer is mostly that code, so it passes the code as the prediction. Each prompt is generated
greedily, one at a time, with: no drafts (the baseline), prompt lookup (n-gram drafts from the
prompt and output, adaptive: EngineConfig.num_draft_tokens 4), the prediction (its next 8
tokens drafted while the output follows it, prompt lookup where it does not), and a WRONG
prediction (another prompt's code: the cost of a prediction that does not come true). The
settings run back to back per prompt, so a load change on this shared machine hits all; every
output is checked token for token against the baseline's. Writes bench/RESULTS.md.

Usage: python bench/bench_prediction.py [--model qwen2.5-coder-0.5b-instruct] [--prompts 3]
       [--max-tokens 192] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import markdown_table, rerun_command, write_section  # noqa: E402
from bench_drafts import code_prompt, code_samples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=192)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("PASTE_NUM_THREADS",
                                                                          "2")))
    args = parser.parse_args()
    from paste.engine.engine import Engine
    from paste.engine.request import GenerationParams

    samples = code_samples(random.Random(args.seed), args.prompts)
    engine = Engine(args.model, num_threads=args.threads, seed=0, num_draft_tokens=4)
    base = GenerationParams(max_tokens=args.max_tokens, temperature=0.0)
    encode = engine.tokenizer.encode
    labels = ("off", "prompt lookup", "prediction", "wrong prediction")
    totals = {label: [0.0, 0, 0, 0, 0, True] for label in labels}  # s, tok, steps, acc, rej, same
    try:
        for i, (command, code) in enumerate(samples):
            ids = engine.chat_prompt([{"role": "user", "content": code_prompt(command, code)}])
            engine.generate([ids], GenerationParams(max_tokens=1))  # the prompt's KV cached
            other = samples[(i + 1) % len(samples)][1]
            settings = {
                "off": replace(base, num_draft_tokens=0),
                "prompt lookup": base,
                "prediction": replace(base, prediction=tuple(
                    encode(code, add_special_tokens=False))),
                "wrong prediction": replace(base, prediction=tuple(
                    encode(other, add_special_tokens=False))),
            }
            outs = {}
            for label, params in settings.items():
                steps = engine.core.num_steps
                t0 = time.perf_counter()
                out = engine.generate([ids], params)[0]
                total = totals[label]
                total[0] += time.perf_counter() - t0
                total[1] += len(out.token_ids)
                total[2] += engine.core.num_steps - steps
                total[3] += int(out.metrics.get("accepted_prediction_tokens", 0))
                total[4] += int(out.metrics.get("rejected_prediction_tokens", 0))
                outs[label] = out.token_ids
                total[5] = total[5] and out.token_ids == outs["off"]
            print(f"prompt {i}: " + ", ".join(
                f"{label} {totals[label][1] / totals[label][0]:.1f} tok/s" for label in labels),
                flush=True)
    finally:
        engine.shutdown()
    off_rate = totals["off"][1] / totals["off"][0]
    rows = []
    for label in labels:
        secs, tokens, steps, accepted, rejected, same = totals[label]
        predicted = label.endswith("prediction")
        rows.append([label, str(tokens), f"{tokens / secs:.1f}",
                     f"{tokens / secs / off_rate:.2f}x", str(steps),
                     f"{accepted} / {rejected}" if predicted else "-",
                     "yes" if same else "NO"])
        print(" | ".join(rows[-1]), flush=True)
    body = (
        f"Model {args.model} ({engine.info.dtype}), greedy, up to {args.max_tokens} new tokens "
        f"per prompt, {args.prompts} code rewrites (a comment above every `def`) drawn with "
        f"seed {args.seed} from mini-swe-agent's printed code, one at a time, {args.threads} "
        "torch threads, the prompts' KV cached before timing. 'prediction': the printed code "
        "as OpenAI's `prediction` (8 drafts per step while the output follows it, prompt "
        "lookup where it does not); 'wrong prediction': another prompt's code; 'prompt "
        "lookup': the engine's adaptive n-gram drafts alone (num_draft_tokens 4). Accepted / "
        "rejected: drafted prediction tokens the model took and refused. 'same output': "
        "every token equal to the run without drafts.\n\n"
        + markdown_table(["setting", "tokens", "tok/s", "vs off", "model steps",
                          "prediction accepted / rejected", "same output"], rows))
    write_section("bench_prediction", body, rerun_command("bench_prediction.py", parser, args))


if __name__ == "__main__":
    main()
