"""Step costs: the wall time of a model step computing r query rows, measured once at load,
so that the BatchLoop cuts n-gram drafts to the lengths worth their rows (the goodput rule of
csrc/include/paste/draft_policy.h).

A draft row is verified at the price of a query row. On a GPU a small batch's decode step is
bound by reading the weights and a few more rows cost little; on a CPU every row costs its
matmuls and the vocabulary projection (drafted rows all need logits), and the cost is not even
linear in r (matmul kernels change with the row count, engine/models/tuned_linear.py). So the
table is measured, not modelled: one sequence with a context of CONTEXT tokens computes r rows
with logits for each (a decode step with r - 1 drafts), best of `repeats`, at the row counts in
ROWS up to `max_rows`; the rows between two measured counts are interpolated, and the table is
made non-decreasing (a step never costs less for computing more rows). Runs before any request
(it writes KV only into blocks no sequence holds yet). Reading: a step of 1 row costs 1.0,
the table is relative to it.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

ROWS = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32)
CONTEXT = 32


def _plan(first: int, rows: int, block_size: int, vocab: int, logits: bool) -> Any:
    """A StepPlan-shaped object: positions [first, first + rows) of one sequence holding blocks
    0, 1, 2, ... (what ModelRunner.forward reads)."""
    end = first + rows
    blocks = -(-end // block_size)
    positions = np.arange(first, end, dtype=np.int32)
    i32 = lambda values: np.asarray(values, dtype=np.int32)  # noqa: E731
    return SimpleNamespace(
        num_tokens=rows,
        input_ids=(positions * 7919 + 13) % vocab,
        positions=positions,
        slot_mapping=positions.copy(),  # block b is block b: slot = position
        query_start_loc=i32([0, rows]),
        seq_lens=i32([end]),
        num_computed_tokens=i32([first]),
        kv_indptr=i32([0, blocks]),
        kv_indices=np.arange(blocks, dtype=np.int32),
        kv_last_page_len=i32([end - (blocks - 1) * block_size]),
        logits_indices=np.arange(rows, dtype=np.int32) if logits else i32([rows - 1]),
    )


def measure_step_costs(runner: Any, max_rows: int, repeats: int = 2) -> list[float]:
    """Relative cost of a step of r = 1 .. R query rows (R = the largest count of ROWS within
    max_rows and the KV pool), per the module docstring. `runner` is a ModelRunner."""
    bs, vocab = runner.block_size, runner.vocab_size
    capacity = runner.num_blocks * bs
    context = min(CONTEXT, max(0, capacity - max_rows))
    rows = [r for r in ROWS if r <= max_rows and context + r <= capacity] or [1]
    sync = torch.cuda.synchronize if runner.device.type == "cuda" else (lambda: None)

    def timed(r: int) -> float:
        plan = _plan(context, r, bs, vocab, logits=True)
        sync()
        started = time.perf_counter()
        runner.forward(plan)
        sync()
        return time.perf_counter() - started

    if context:
        runner.forward(_plan(0, context, bs, vocab, logits=False))  # the context's KV
    timed(1)  # warm-up: first calls allocate
    measured = {r: min(timed(r) for _ in range(repeats)) for r in rows}
    table: list[float] = []
    for lo, hi in zip(rows, rows[1:] + [rows[-1]], strict=True):
        for r in range(lo, hi if hi > lo else lo + 1):
            w = (r - lo) / (hi - lo) if hi > lo else 0.0
            table.append((1 - w) * measured[lo] + w * measured[hi])
    for i in range(1, len(table)):
        table[i] = max(table[i], table[i - 1])
    return [c / table[0] for c in table]
