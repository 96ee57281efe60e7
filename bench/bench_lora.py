"""LoRA serving cost: decode throughput of one engine serving two adapters (rank 16 on every
linear layer of the decoder, saved by PEFT with seeded random weights) against the same model
without adapters, side by side in one run.

Batches of B requests (greedy, N new tokens, the same prompts in every setting, their KV
cached before timing so the rows are decoding): all on the base model in an engine without
adapters (the baseline), all on the base model in the engine with adapters (what the hooks
cost when no row runs an adapter), all on one adapter, and mixed (rows split across the base
model and both adapters, each row masked to its own adapter's rank columns of the step's
stacked adapters; batches of 3 or more). Best of --repeats, the settings of one engine timed
in turn.

Usage (from the repo root): python bench/bench_lora.py [--model NAME] [--batch 1,8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, rerun_command, write_section  # noqa: E402
from _threads import on_own_thread  # noqa: E402

PROMPTS = [
    "Write a SQL query that lists the ten customers with the highest total order value.",
    "Explain in two sentences why the sky looks blue during the day.",
    "List three things to check before deploying a web service to production.",
    "Summarise what a hash table is and when it is slower than a sorted array.",
]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def save_adapter(base: Path, out: Path, rank: int, seed: int) -> Path:
    """PEFT's LoRA of rank `rank` on every decoder linear layer, seeded random A and B."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank,
                                                  target_modules=TARGETS))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
    peft_model.save_pretrained(str(out))
    return out


def warm(engine, prompts: list[list[int]], loras: list[str | None]) -> None:
    """The prompts' KV cached, per adapter namespace."""
    from paste.engine.request import GenerationParams

    for p, lo in zip(prompts, loras, strict=True):
        engine.generate([p], GenerationParams(max_tokens=1, lora=lo))


def tok_per_s(engine, prompts: list[list[int]], loras: list[str | None], new: int) -> float:
    """One timed batch: tokens generated per second."""
    from paste.engine.request import GenerationParams

    started = time.perf_counter()
    handles = [engine.submit(p, GenerationParams(max_tokens=new, ignore_eos=True, lora=lo))
               for p, lo in zip(prompts, loras, strict=True)]
    total = sum(len(h.result().token_ids) for h in handles)
    return total / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from paste.engine.engine import Engine
    from paste.models.store import resolve_model

    torch.set_num_threads(args.threads)
    base = resolve_model(args.model)
    batches = [int(b) for b in args.batch.split(",")]
    settings = [("no adapters loaded (baseline)", False, lambda b: [None] * b),
                ("adapters loaded, base rows", True, lambda b: [None] * b),
                ("one adapter, all rows", True, lambda b: ["a"] * b),
                ("mixed: base, a, b", True, lambda b: [(None, "a", "b")[i % 3] for i in range(b)])]
    rates: dict[tuple[int, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # built on threads that end (bench/_threads.py: else the engines decode slower)
        adapters = (("a", str(on_own_thread(save_adapter, base, Path(tmp) / "a", args.rank,
                                            args.seed))),
                    ("b", str(on_own_thread(save_adapter, base, Path(tmp) / "b", args.rank,
                                            args.seed + 1))))
        # one engine at a time: an idle engine's thread would share the 2 cores
        for with_adapters in (False, True):
            extra = {"lora_modules": adapters, "max_lora_rank": args.rank} if with_adapters else {}
            engine = Engine(args.model, num_threads=args.threads, **extra)
            try:
                dtype = engine.info.dtype
                for b in batches:
                    prompts = [engine.encode(PROMPTS[i % len(PROMPTS)] + f" ({i})")
                               for i in range(b)]
                    mine = [(label, loras(b)) for label, needs, loras in settings
                            if needs == with_adapters and (b >= 3 or "mixed" not in label)]
                    for _label, loras_b in mine:
                        warm(engine, prompts, loras_b)
                    for _ in range(args.repeats):  # settings in turn: noise hits them alike
                        for label, loras_b in mine:
                            rate = tok_per_s(engine, prompts, loras_b, args.new_tokens)
                            rates[b, label] = max(rate, rates.get((b, label), 0.0))
                    for label, _loras_b in mine:
                        print(f"batch {b:2d} {label:32s} {rates[b, label]:7.1f} tok/s",
                              flush=True)
            finally:
                engine.shutdown()
    rows = [[str(b), label, f"{rates[b, label]:.1f}",
             f"{rates[b, label] / rates[b, settings[0][0]]:.2f}x",
             f"{rates[b, label] / rates[b, settings[1][0]]:.2f}x" if needs else ""]
            for b in batches for label, needs, _loras in settings if (b, label) in rates]
    body = (
        f"Model {args.model} ({dtype}), two PEFT adapters of rank {args.rank} on every decoder "
        f"linear layer (q/k/v/o/gate/up/down; seeded random weights, seed {args.seed}), "
        f"greedy, {args.new_tokens} new tokens per request, {args.threads} torch threads, best "
        f"of {args.repeats}; the prompts' KV cached before timing (decode only). The baseline "
        f"is the same model in an engine without adapters, in the same run (the two engines "
        f"one after the other); 'vs base rows' compares with the base-model rows of the engine "
        f"with adapters, timed in turn with its adapter rows (each repeat runs every setting "
        f"once), so this machine's drift between the two engines does not enter it.\n\n"
        + markdown_table(["batch", "requests", "tok/s", "vs baseline", "vs base rows"], rows)
    )
    write_section("bench_lora", body, rerun_command("bench_lora.py", parser, args))


if __name__ == "__main__":
    main()
