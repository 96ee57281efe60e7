"""How many KV blocks an engine allocates, by device (vLLM's rules).

    num_blocks given            that many
    kv_cache_memory_bytes given that many bytes' worth of blocks, on any device
    a CUDA device otherwise     gpu_memory_utilization of the device's memory, less what the
                                engine needs besides the cache (below)
    a CPU otherwise             DEFAULT_CPU_KV_BYTES (1 GiB)

On a CUDA device paste measures, as vLLM does, what the engine uses besides the cache: the
weights (torch's allocation growth over loading the model), the peak activations of a profile
step (the largest prefill one step computes, with the float32 logits and probabilities of
max_num_seqs rows, over the weights; the step's own small KV cache is counted in it, which
errs on the safe side) and the memory the process came to hold outside torch's allocator
(CUDA context, library workspaces). The cache gets the rest of utilization x total. Another process's memory is not ours to plan with: the device must have
utilization x total free when the engine starts.

The arithmetic (kv_budget_bytes) and the profile step run everywhere; the measurement itself
(CudaMemoryProbe) needs a CUDA device and is unverified on this project's CPU machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from paste.engine.models import AttentionMetadata, ModelConfig, allocate_kv_cache
from paste.errors import InvalidArgumentError

DEFAULT_CPU_KV_BYTES = 1 << 30
_GIB = float(1 << 30)


class KVCacheMemoryError(InvalidArgumentError):
    """The device cannot hold the KV cache the configuration asks for."""


@dataclass(frozen=True)
class MemoryUse:
    """Bytes measured on the device around loading the model and one profile step."""

    total: int  # the device's memory
    free_at_start: int  # free before the model was loaded
    weights: int  # torch's allocation growth over loading the model
    peak_activation: int  # torch's peak over the weights during the profile step
    non_torch: int  # growth of the process's memory outside torch's allocator


def kv_budget_bytes(use: MemoryUse, utilization: float) -> int:
    """Bytes left for the KV cache of `utilization` x the device's memory; KVCacheMemoryError
    when the device has less than that free at start or nothing is left for the cache."""
    requested = int(use.total * utilization)
    if use.free_at_start < requested:
        raise KVCacheMemoryError(
            f"gpu_memory_utilization {utilization} asks for {requested / _GIB:.2f} GiB of "
            f"the device's {use.total / _GIB:.2f} GiB, but only {use.free_at_start / _GIB:.2f}"
            " GiB were free at start (another process holds the rest): lower "
            "--gpu-memory-utilization or free the device")
    budget = requested - use.weights - use.peak_activation - use.non_torch
    if budget <= 0:
        raise KVCacheMemoryError(
            f"no memory left for the KV cache: of {requested / _GIB:.2f} GiB "
            f"(gpu_memory_utilization {utilization}), the weights take "
            f"{use.weights / _GIB:.2f} GiB, a profile step's activations "
            f"{use.peak_activation / _GIB:.2f} GiB and memory outside torch "
            f"{use.non_torch / _GIB:.2f} GiB: raise --gpu-memory-utilization or lower "
            "--max-num-batched-tokens / --max-num-seqs")
    return budget


def kv_cache_blocks(*, num_blocks: int, kv_cache_memory_bytes: int | None, per_block: int,
                    utilization: float, use: MemoryUse | None) -> int:
    """The engine's number of KV blocks by the table in the module doc (`use`: the device's
    measurement, None on a CPU); KVCacheMemoryError if a measured budget holds no block."""
    if num_blocks:
        return num_blocks
    if kv_cache_memory_bytes is not None:
        return max(1, kv_cache_memory_bytes // per_block)
    if use is None:
        return max(1, DEFAULT_CPU_KV_BYTES // per_block)
    budget = kv_budget_bytes(use, utilization)
    if budget < per_block:
        raise KVCacheMemoryError(
            f"{budget} bytes left for the KV cache hold no block of {per_block} bytes: raise "
            "--gpu-memory-utilization")
    return budget // per_block


class MemoryProbe(Protocol):
    """Measures the device's memory around loading the model (start, loaded) and after a
    profile step (finish)."""

    def start(self) -> None: ...

    def loaded(self) -> None: ...

    def finish(self) -> MemoryUse: ...


class CudaMemoryProbe:
    """MemoryProbe of one CUDA device, from torch.cuda's allocator statistics and
    cudaMemGetInfo."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._start: tuple[int, int, int, int] = (0, 0, 0, 0)  # free, total, alloc, reserved
        self._weights = 0
        self._after_load = 0

    def _sync(self) -> None:
        torch.cuda.synchronize(self.device)

    def start(self) -> None:
        self._sync()
        torch.cuda.empty_cache()
        free, total = torch.cuda.mem_get_info(self.device)
        self._start = (int(free), int(total), torch.cuda.memory_allocated(self.device),
                       torch.cuda.memory_reserved(self.device))

    def loaded(self) -> None:
        self._sync()
        self._after_load = torch.cuda.memory_allocated(self.device)
        self._weights = self._after_load - self._start[2]
        torch.cuda.reset_peak_memory_stats(self.device)

    def finish(self) -> MemoryUse:
        self._sync()
        peak = torch.cuda.max_memory_allocated(self.device) - self._after_load
        free, total = torch.cuda.mem_get_info(self.device)
        free0, total0, _alloc0, reserved0 = self._start
        grown = (int(total) - int(free)) - (total0 - free0)
        non_torch = grown - (torch.cuda.memory_reserved(self.device) - reserved0)
        torch.cuda.empty_cache()
        return MemoryUse(total=total0, free_at_start=free0, weights=max(0, self._weights),
                         peak_activation=max(0, peak), non_torch=max(0, non_torch))


def memory_probe(device: torch.device, num_blocks: int,
                 kv_cache_memory_bytes: int | None) -> MemoryProbe | None:
    """A probe when the cache is sized from the device's memory (CUDA, no size given)."""
    if device.type != "cuda" or num_blocks or kv_cache_memory_bytes is not None:
        return None
    return CudaMemoryProbe(device)


def profile_plan(num_tokens: int, num_rows: int, block_size: int) -> dict[str, np.ndarray]:
    """The plan arrays of one prompt of `num_tokens` tokens computed in one step, in blocks
    0.. of a cache of its own, sampling its last `num_rows` rows."""
    blocks = -(-num_tokens // block_size)
    rows = min(num_rows, num_tokens)
    i32 = np.int32
    return {
        "positions": np.arange(num_tokens, dtype=i32),
        "slot_mapping": np.arange(num_tokens, dtype=i32),
        "query_start_loc": np.array([0, num_tokens], dtype=i32),
        "seq_lens": np.array([num_tokens], dtype=i32),
        "num_computed_tokens": np.array([0], dtype=i32),
        "kv_indptr": np.array([0, blocks], dtype=i32),
        "kv_indices": np.arange(blocks, dtype=i32),
        "kv_last_page_len": np.array([num_tokens - (blocks - 1) * block_size], dtype=i32),
        "logits_indices": np.arange(num_tokens - rows, num_tokens, dtype=i32),
    }


@torch.inference_mode()
def profile_step(model: Any, config: ModelConfig, *, num_tokens: int, num_rows: int,
                 block_size: int, dtype: torch.dtype, device: torch.device) -> tuple[int, int]:
    """Run the model once over the largest step the engine computes (a `num_tokens` prompt,
    `num_rows` sampled rows with float32 probabilities) on a KV cache of its own, freed on
    return, so the device's peak memory includes a step's activations. Returns the shape of
    the probabilities."""
    plan = profile_plan(num_tokens, num_rows, block_size)
    caches = allocate_kv_cache(config, num_blocks=int(plan["kv_indptr"][-1]),
                               block_size=block_size, dtype=dtype, device=device)
    arrays: dict[str, Any] = plan
    meta = AttentionMetadata.build(block_size=block_size, device=device, **arrays)
    input_ids = torch.zeros(num_tokens, dtype=torch.int64, device=device)
    hidden = model(input_ids, caches, meta)
    probs = torch.softmax(model.compute_logits(hidden[meta.logits_indices]), dim=-1)
    return int(probs.shape[0]), int(probs.shape[1])
