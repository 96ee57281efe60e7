"""Logit adjustments per engine step: paste's LogitAdjustments (touches only the tokens each
request has seen) vs a dense pass over the whole vocabulary per row (the baseline, written
here: what a straightforward batched implementation does).

Each request has presence, frequency and repetition penalties, a prompt of 512 tokens and a
growing output; rows 1 / 16 / 64 of a 151,936-token vocabulary (Qwen2.5's), float32 logits,
one torch thread, fixed seed. Both sides produce the same logits (checked first).

Usage (from the repo root): python bench/bench_penalties.py [--steps N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, write_section  # noqa: E402
from paste.engine.penalties import LogitAdjustments  # noqa: E402
from paste.engine.request import GenerationParams  # noqa: E402

VOCAB = 151_936
PROMPT = 512
PARAMS = GenerationParams(presence_penalty=0.5, frequency_penalty=0.3, repetition_penalty=1.1)


class DensePenalties:
    """The baseline: per request a dense [V] count and prompt mask; each step builds the
    [rows, V] blocks and applies the three penalties with whole-row tensor ops."""

    def __init__(self) -> None:
        self.counts: dict[int, torch.Tensor] = {}
        self.prompt: dict[int, torch.Tensor] = {}

    def add(self, seq_id: int, prompt: list[int]) -> None:
        self.counts[seq_id] = torch.zeros(VOCAB)
        mask = torch.zeros(VOCAB, dtype=torch.bool)
        mask[torch.tensor(prompt)] = True
        self.prompt[seq_id] = mask

    def apply(self, logits: torch.Tensor, seq_ids: list[int]) -> None:
        counts = torch.stack([self.counts[s] for s in seq_ids])
        seen = (counts > 0) | torch.stack([self.prompt[s] for s in seq_ids])
        r = PARAMS.repetition_penalty
        logits.copy_(torch.where(seen, torch.where(logits > 0, logits / r, logits * r), logits))
        logits -= PARAMS.frequency_penalty * counts + PARAMS.presence_penalty * (counts > 0)

    def accept(self, seq_ids: list[int], tokens: list[int]) -> None:
        for s, t in zip(seq_ids, tokens, strict=True):
            self.counts[s][t] += 1


def run(rows: int, steps: int, seed: int) -> tuple[float, float]:
    gen = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(0, VOCAB, (PROMPT,), generator=gen).tolist() for _ in range(rows)]
    outputs = torch.randint(0, 4000, (steps, rows), generator=gen).tolist()  # repeats happen
    logits = [torch.randn(rows, VOCAB, generator=gen) for _ in range(4)]
    sparse, dense = LogitAdjustments(VOCAB), DensePenalties()
    ids = list(range(rows))
    for i, prompt in enumerate(prompts):
        sparse.add(i, PARAMS, prompt, [2])
        dense.add(i, prompt)
    times = {"sparse": 0.0, "dense": 0.0}
    for step in range(steps):
        a, b = logits[step % 4].clone(), logits[step % 4].clone()
        started = time.perf_counter()
        sparse.apply(a, ids)
        sparse.accept(ids, outputs[step])
        times["sparse"] += time.perf_counter() - started
        started = time.perf_counter()
        dense.apply(b, ids)
        dense.accept(ids, outputs[step])
        times["dense"] += time.perf_counter() - started
        if not torch.allclose(a, b, atol=1e-5):
            raise SystemExit(f"the two implementations disagree at step {step}")
    return times["sparse"] / steps * 1e3, times["dense"] / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = []
    for rows in (1, 16, 64):
        sparse_ms, dense_ms = run(rows, args.steps, args.seed)
        table.append([str(rows), f"{sparse_ms:.3f}", f"{dense_ms:.2f}",
                      f"{dense_ms / sparse_ms:.0f}x"])
        print(f"rows {rows:3d}: paste {sparse_ms:8.3f} ms/step  dense {dense_ms:8.2f} ms/step",
              flush=True)
    body = (
        f"Presence + frequency + repetition penalties on every row, prompts of {PROMPT} tokens, "
        f"vocabulary {VOCAB:,}, {args.steps} steps (apply + accept), one torch thread, seed "
        f"{args.seed}; both sides' logits checked equal at every step.\n\n"
        + markdown_table(["rows", "paste LogitAdjustments (ms/step)",
                          "dense baseline (ms/step)", "speed-up"], table)
    )
    write_section("bench_penalties", body,
                  f"python bench/bench_penalties.py --steps {args.steps}")


if __name__ == "__main__":
    main()
