"""Engine throughput: paste vs HF transformers generate on the same model and prompts.

Measures, in one run with a fixed seed: generated tokens/s at batch 1, 8 and 32 (greedy, fixed
output length) and a mixed workload (staggered arrivals, mixed prompt and output lengths) for
paste's engine and for HF transformers' generate() (static batches of whatever has arrived,
left-padded), both in the dtype paste's default `auto` resolves to (bfloat16 on a CPU with
bf16 units, engine/dtypes.py), and paste again in float32 when that differs (the gain of the
default); llama-cpp-python and vLLM's CPU backend are added when installed (see
bench/README.md). Also prints the batch-1 roofline: weight bytes / measured memory bandwidth.
Writes the table to bench/RESULTS.md.

One engine at a time: each runner is measured and closed before the next starts, and HF runs
on a thread of its own that ends with it (bench/_threads.py: a second thread's OpenMP team
made decoding 1.9x slower here, 24 -> 13 tok/s at batch 1 with a second engine alive and
idle).

Usage: python bench/bench_engine.py [--model smollm2-135m-instruct] [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import markdown_table, write_section  # noqa: E402
from _threads import on_own_thread  # noqa: E402

WORDS = ("agent tool search result file code test model cache token batch schedule answer "
         "question paris france python function value error").split()


def make_prompts(n: int, rng: random.Random, lo: int = 24, hi: int = 64) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


def memory_bandwidth() -> float:
    """Bytes/s of a large tensor copy (read + write), best of 5."""
    src = torch.empty(64 << 20, dtype=torch.uint8)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.numel() / best


class PasteRunner:
    def __init__(self, model: str, threads: int, dtype: str = "auto") -> None:
        from paste.engine.engine import Engine

        self.engine = Engine(model, num_threads=threads, dtype=dtype)
        self.tok = self.engine.tokenizer
        self.dtype = self.engine.info.dtype
        self.name = f"paste {self.dtype}"

    def run_batch(self, prompts: list[list[int]], max_tokens: int) -> int:
        from paste.engine.request import GenerationParams

        outs = self.engine.generate(prompts, GenerationParams(max_tokens=max_tokens,
                                                              ignore_eos=True))
        return sum(len(o.token_ids) for o in outs)

    def run_mixed(self, arrivals: list[tuple[float, list[int], int]]) -> int:
        from paste.engine.request import GenerationParams

        handles, t0 = [], time.perf_counter()
        for at, ids, n in arrivals:
            while time.perf_counter() - t0 < at:
                time.sleep(0.001)
            handles.append(self.engine.submit(ids, GenerationParams(max_tokens=n,
                                                                    ignore_eos=True)))
        return sum(len(h.result().token_ids) for h in handles)

    def close(self) -> None:
        self.engine.shutdown()


class HFRunner:
    def __init__(self, folder: Path, dtype: str) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = f"HF generate {dtype}"
        self.model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=getattr(torch, dtype))
        self.model.eval()
        self.tok = AutoTokenizer.from_pretrained(str(folder))
        self.pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0

    @torch.inference_mode()
    def run_batch(self, prompts: list[list[int]], max_tokens: int) -> int:
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[self.pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        out = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens,
                                  min_new_tokens=max_tokens, do_sample=False,
                                  pad_token_id=self.pad)
        return (out.shape[1] - width) * len(prompts)

    def run_mixed(self, arrivals: list[tuple[float, list[int], int]]) -> int:
        queue, done, t0 = list(arrivals), 0, time.perf_counter()
        while queue:
            now = time.perf_counter() - t0
            ready = [a for a in queue if a[0] <= now] or [queue[0]]
            if ready[0][0] > now:
                time.sleep(ready[0][0] - now)
            queue = [a for a in queue if a not in ready]
            # Static batch: everyone runs until the longest output is done.
            longest = max(n for _, _, n in ready)
            self.run_batch([ids for _, ids, _ in ready], longest)
            done += sum(n for _, _, n in ready)  # tokens the callers asked for
        return done

    def close(self) -> None:
        pass


def measure(runner, prompt_sets: dict[int, list[list[int]]], arrivals: list,
            out_len: int) -> dict[str, float]:
    """tok/s of `runner` per workload (batch sizes of prompt_sets, then mixed); closes it."""
    rates = {}
    try:
        first = next(iter(prompt_sets))
        runner.run_batch(prompt_sets[first], 4)  # warm-up
        for b, prompts in prompt_sets.items():
            tokens, secs = timed(runner.run_batch, prompts, out_len)
            rates[f"batch {b}"] = tokens / secs
        tokens, secs = timed(runner.run_mixed, arrivals)
        rates["mixed"] = tokens / secs
    finally:
        runner.close()
    print(runner.name, {k: round(v, 1) for k, v in rates.items()}, flush=True)
    return rates


def measure_hf(folder: Path, dtype: str, prompt_sets: dict, arrivals: list,
               out_len: int) -> tuple[str, dict[str, float], int]:
    """HF's name, rates and weight bytes (run on a thread of its own)."""
    hf = HFRunner(folder, dtype)
    weights = sum(p.numel() * p.element_size() for p in hf.model.parameters())
    return hf.name, measure(hf, prompt_sets, arrivals, out_len), weights


def timed(fn, *args) -> tuple[int, float]:
    t0 = time.perf_counter()
    tokens = fn(*args)
    return tokens, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    from paste.models.store import resolve_model

    folder = resolve_model(args.model)
    rng = random.Random(args.seed)
    out_len = 16 if args.quick else 32
    batches = (1, 8) if args.quick else (1, 8, 32)
    ours = PasteRunner(args.model, args.threads)
    tok, dtype = ours.tok, ours.dtype
    prompt_sets = {b: [tok.encode(p) for p in make_prompts(b, rng)] for b in batches}
    arrivals, at = [], 0.0
    # Offered load above what either engine serves (16 arrivals/s), mixed output lengths: the
    # regime where continuous batching matters (a static batch runs to its longest output).
    for p in make_prompts(8 if args.quick else 24, rng, 8, 96):
        arrivals.append((at, tok.encode(p), rng.choice([8, 16, 32, 64, 128])))
        at += rng.expovariate(16.0)
    rows, results = [], {}
    names = [ours.name]
    for work, rate in measure(ours, prompt_sets, arrivals, out_len).items():
        results[(ours.name, work)] = rate
    hf_name, hf_rates, weights = on_own_thread(measure_hf, folder, dtype, prompt_sets,
                                               arrivals, out_len)
    names.append(hf_name)
    results.update({(hf_name, work): rate for work, rate in hf_rates.items()})
    if dtype != "float32":  # the default's gain over float32, same run
        f32 = PasteRunner(args.model, args.threads, "float32")
        names.append(f32.name)
        results.update({(f32.name, work): rate
                        for work, rate in measure(f32, prompt_sets, arrivals, out_len).items()})
    for work in [f"batch {b}" for b in batches] + ["mixed"]:
        row = [work] + [f"{results[(n, work)]:.1f}" for n in names]
        row.append(f"{results[(names[0], work)] / results[(names[1], work)]:.2f}x")
        if len(names) > 2:
            row.append(f"{results[(names[0], work)] / results[(names[2], work)]:.2f}x")
        rows.append(row)
    bw = memory_bandwidth()
    roof = bw / weights
    ratios = ["paste / HF"] + ([f"paste {dtype} / float32"] if len(names) > 2 else [])
    table = markdown_table(["workload"] + [f"{n} (tok/s)" for n in names] + ratios, rows)
    note = (f"Model {args.model} ({dtype}: paste's default dtype `auto` on this CPU, "
            f"{weights / 1e6:.0f} MB of weights), {args.threads} "
            f"threads, greedy, {out_len} output tokens per request in the batch rows; mixed = "
            f"{len(arrivals)} requests, Poisson arrivals (16/s), outputs 8-128 tokens. Batch-1 "
            f"roofline: {bw / 1e9:.1f} GB/s measured copy bandwidth / weight bytes = "
            f"{roof:.1f} tok/s. One engine (or HF) alive at a time, HF on a thread of its own "
            "(a second torch thread's OpenMP team halves decoding: the script's docstring).")
    print(table)
    print(note)
    write_section("Engine throughput (bench_engine.py)", note + "\n\n" + table,
                  "python bench/bench_engine.py" + (" --quick" if args.quick else ""))


if __name__ == "__main__":
    main()
