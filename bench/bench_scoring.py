"""Prompt scoring (lm-eval's loglikelihood requests): paste's engine with prompt logprobs vs HF
transformers scoring the same prompts (one forward pass per prompt, log-softmax, the logprob
of each next token: what lm-eval's `hf` backend does at batch size 1), and paste prefilling
the same prompts without scoring (the floor: what the scores add), in one run.

The prompts are windows of real agent transcripts (the FireAct sessions in ../shared/traces:
questions, thoughts, actions and observations, tokenised with the model's tokenizer), chosen
with a fixed seed; the engine's prefix cache is off so that no mode reuses another's KV. The scores of paste and transformers are compared first (max absolute
difference). Modes alternate per rep; times are the median over reps. paste's engine runs in
a process of its own (ProcessEngine, as `paste serve` runs it) while transformers runs in this
one: two torch users in one process slow each other's small ops (bench/_threads.py).

Usage (from the repo root): python bench/bench_scoring.py [--model smollm2-135m-instruct]
[--prompts 16] [--tokens 256] [--reps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, rerun_command, write_section  # noqa: E402
from _traces import DEFAULT_TRACES  # noqa: E402

SOURCE = "fireact-hotpotqa"


def text_windows(tokenizer: object, n: int, length: int, seed: int) -> list[list[int]]:
    """n windows of `length` token ids from the FireAct sessions' text, in session order."""
    from paste.patterns.loaders import load_folder

    traces = sorted(load_folder(DEFAULT_TRACES / SOURCE).traces, key=lambda t: t.session_id)
    text = "\n\n".join(step.text or (step.output or "") for t in traces for step in t.steps)
    ids = tokenizer(text).input_ids
    rng = random.Random(seed)
    starts = rng.sample(range(len(ids) - length), n)
    return [ids[s : s + length] for s in starts]


def score_paste(engine: object, prompts: list[list[int]]) -> list[list[float]]:
    from paste.engine.request import GenerationParams

    outs = engine.generate(prompts, GenerationParams(max_tokens=1, prompt_logprobs=0))
    return [[e.logprob for e in o.prompt_logprobs[1:]] for o in outs]


def prefill_paste(engine: object, prompts: list[list[int]]) -> None:
    from paste.engine.request import GenerationParams

    engine.generate(prompts, GenerationParams(max_tokens=1))


def score_hf(model: object, prompts: list[list[int]]) -> list[list[float]]:
    out = []
    with torch.inference_mode():
        for ids in prompts:
            logits = model(torch.tensor([ids])).logits[0, :-1].float()
            logp = torch.log_softmax(logits, dim=-1)
            out.append(logp.gather(1, torch.tensor(ids[1:])[:, None])[:, 0].tolist())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from paste.engine.process_engine import ProcessEngine
    from paste.models import store

    folder = store.model_path(args.model)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompts = text_windows(tokenizer, args.prompts, args.tokens, args.seed)
    engine = ProcessEngine(str(folder), enable_prefix_caching=False, num_threads=args.threads,
                           dtype="float32")  # as transformers here: the scores compare
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    try:
        ours, theirs = score_paste(engine, prompts), score_hf(model, prompts)  # also warm-up
        prefill_paste(engine, prompts)
        diff = max(abs(a - b) for x, y in zip(ours, theirs, strict=True)
                   for a, b in zip(x, y, strict=True))
        modes = {"paste, prompt logprobs": lambda: score_paste(engine, prompts),
                 "transformers forward + log-softmax": lambda: score_hf(model, prompts),
                 "paste, prefill only (no scores)": lambda: prefill_paste(engine, prompts)}
        times: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.reps):
            for name, run in modes.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    finally:
        engine.shutdown()
    body = _body(times, diff, args)
    print(body)
    write_section("bench_scoring", body, rerun_command("bench_scoring.py", parser, args))


def _body(times: dict[str, list[float]], diff: float, args: argparse.Namespace) -> str:
    tokens = args.prompts * args.tokens
    median = {name: statistics.median(t) for name, t in times.items()}
    rows = [[name, f"{median[name]:.2f}", f"{tokens / median[name]:.0f}"] for name in times]
    paste, hf, floor = median.values()
    return (
        f"{args.model}, {args.prompts} prompts of {args.tokens} tokens of real agent "
        f"transcripts ({SOURCE} windows, seed {args.seed}), {args.threads} torch threads, "
        "float32, prefix "
        f"cache off, median of {args.reps} reps with the modes alternating. Largest difference "
        f"between paste's and transformers' logprobs: {diff:.1e}.\n\n"
        + markdown_table(["scoring", "seconds", "prompt tokens/s"], rows)
        + f"\n\ntransformers / paste scoring time: {hf / paste:.2f}x; paste scoring / prefill "
        f"only: {paste / floor:.2f}x\n"
    )


if __name__ == "__main__":
    main()
