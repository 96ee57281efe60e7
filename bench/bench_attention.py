"""Attention time per layer call on the CPU: the C++ "cpu" backend vs the torch reference.

SmolLM2-135M's attention shape (9 query heads, 3 kv heads, head_dim 64), float32, block size 16,
block tables of shuffled block ids (fixed seed). Cases: decode batches (1 token per sequence
over a long context), a fresh prefill, and a chunked prefill over a cached prefix. Each case
times forward() (and store_kv for the cpu backend) on the same inputs in the same process, best
of several repeats; torch runs on 1 intra-op thread (on the 2 shared cores, 2 torch
threads were 10-20x slower under load). Writes the table to bench/RESULTS.md.
Usage: python bench/bench_attention.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paste.kernels.cpu_attention import CpuAttentionBackend  # noqa: E402
from paste.kernels.torch_ref import TorchAttentionBackend  # noqa: E402

from _results import markdown_table, write_section  # noqa: E402
from paste.engine.models.metadata import AttentionMetadata  # noqa: E402

H, KVH, D, BS = 9, 3, 64, 16
CASES = [  # name, num_computed_tokens per sequence, new tokens per sequence
    ("decode 1 x 1024 ctx", [1023], [1]),
    ("decode 16 x 512 ctx", [511] * 16, [1] * 16),
    ("decode 64 x 256 ctx", [255] * 64, [1] * 64),
    ("prefill 1 x 512", [0], [512]),
    ("chunked prefill 256 over 768", [768], [256]),
    ("mixed: 16 decodes + prefill 128", [511] * 16 + [0], [1] * 16 + [128]),
]


def build(computed: list[int], new: list[int], seed: int):
    rng = np.random.default_rng(seed)
    pages = [(c + n + BS - 1) // BS for c, n in zip(computed, new, strict=True)]
    ids = rng.permutation(sum(pages) + 8).tolist()
    tables, start = [], 0
    for p in pages:
        tables.append(ids[start : start + p])
        start += p
    md = AttentionMetadata.from_block_tables(
        block_size=BS, block_tables=tables, num_computed_tokens=computed, num_new_tokens=new
    )
    torch.manual_seed(seed)
    caches = [torch.randn(len(ids), BS, KVH, D) for _ in range(2)]
    q = torch.randn(md.num_tokens, H, D)
    kv = torch.randn(md.num_tokens, KVH, D)
    return md, caches, q, kv


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    kw = dict(num_heads=H, num_kv_heads=KVH, head_dim=D, scale=D**-0.5)
    cpu1 = CpuAttentionBackend(**kw, num_threads=1)
    cpu2 = CpuAttentionBackend(**kw, num_threads=2)
    ref = TorchAttentionBackend(**kw)
    rows = []
    for i, (name, computed, new) in enumerate(CASES):
        md, (kc, vc), q, kv = build(computed, new, seed=i)
        out = cpu2.forward(q, kc, vc, md)
        torch.testing.assert_close(out, ref.forward(q, kc, vc, md), rtol=1e-5, atol=1e-5)
        reps = max(3, args.repeats * 64 // max(64, md.num_tokens))
        args_ = (q, kc, vc, md)
        t1 = best_time(lambda a=args_: cpu1.forward(*a), reps)
        t2 = best_time(lambda a=args_: cpu2.forward(*a), reps)
        tr = best_time(lambda a=args_: ref.forward(*a), max(3, reps // 4))
        store = (kv, kv, kc, vc, md.slot_mapping)
        ts = best_time(lambda a=store: cpu2.store_kv(*a), reps)
        rows.append(
            [
                name,
                md.num_tokens,
                f"{t1 * 1e3:.3f}",
                f"{t2 * 1e3:.3f}",
                f"{tr * 1e3:.3f}",
                f"{tr / t1:.1f}x",
                f"{ts * 1e3:.3f}",
            ]
        )
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    table = markdown_table(
        [
            "case",
            "query tokens",
            "cpu 1 thread (ms)",
            "cpu 2 threads (ms)",
            "torch ref, 1 thread (ms)",
            "speed-up (1 thread each)",
            "cpu store_kv (ms)",
        ],
        rows,
    )
    note = (
        f"One attention layer call (forward), H={H}, KVH={KVH}, head_dim={D}, float32, "
        f"block size {BS}, shuffled block ids; best of repeats, outputs checked against "
        "the torch reference first. Load average while measuring: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine)."
    )
    write_section(
        "CPU paged attention (bench_attention.py)",
        note + "\n\n" + table,
        "python bench/bench_attention.py",
    )


if __name__ == "__main__":
    main()
