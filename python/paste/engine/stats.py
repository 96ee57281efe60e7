"""EngineStats and EngineInfo: what an engine says about itself (scheduler, KV cache, limits).

EngineStats is a snapshot of the scheduler's and KV cache's state; EngineInfo what does not
change after start-up.

The server's metrics, co-scheduling (KV pressure) and speculation admission (the step time)
read them through `engine.stats()` / `engine.info`, never through the core itself, so an
engine whose core runs in another process (process_engine.py) answers the same way: there the
snapshot is the one the core sent with its last step's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EngineInfo:
    """Fixed at start-up: the longest sequence the engine runs (prompt + output), the model's
    vocabulary size (token ids it can embed: [0, vocab_size)) and the most logprob
    alternatives per token a request may ask for (EngineConfig.max_logprobs resolved)."""

    max_model_len: int
    vocab_size: int
    dtype: str = "float32"  # the dtype the model runs in (EngineConfig.dtype resolved)
    max_logprobs: int = 20


@dataclass(frozen=True)
class EngineStats:
    num_running: int = 0  # sequences being computed
    num_waiting: int = 0  # sequences waiting for admission
    num_parked: int = 0  # session sequences parked between turns (KV retained)
    num_used_blocks: int = 0
    num_blocks: int = 0
    num_generated_tokens: int = 0
    num_preemptions: int = 0
    num_draft_tokens: int = 0
    num_accepted_draft_tokens: int = 0
    num_admitted_tokens: int = 0  # prompt tokens of sequences at their admission
    num_reused_tokens: int = 0  # of which KV was reused (prefix cache or a parked session)
    step_time_s: float | None = None  # smoothed wall time of one step; None before the first

    @property
    def kv_usage(self) -> float:
        """Fraction of KV blocks in use."""
        return self.num_used_blocks / self.num_blocks if self.num_blocks else 0.0


def served_lora_adapters(engine: Any) -> tuple[tuple[str, str], ...]:
    """The LoRA adapters `engine` serves now, as (name, path): its lora_adapters() (adapters
    may be loaded and unloaded while it runs), none for an engine without them."""
    read = getattr(engine, "lora_adapters", None)
    return () if read is None else tuple(read())


def engine_stats(engine: Any) -> EngineStats | None:
    """`engine.stats()`, or None for an engine that keeps none (a SimulatedEngine)."""
    read = getattr(engine, "stats", None)
    return None if read is None else read()


def core_info(core: Any) -> EngineInfo:
    return EngineInfo(max_model_len=int(core.max_model_len),
                      vocab_size=int(core.runner.vocab_size), dtype=core.runner.dtype_name,
                      max_logprobs=core.max_logprobs)


def core_stats(core: Any) -> EngineStats:
    """Plain reads of the core and its C++ loop. From another thread than the one stepping,
    one snapshot may mix values of two adjacent steps (each value is itself valid)."""
    loop = core.loop
    blocks = loop.block_manager
    stats = loop.stats
    return EngineStats(
        num_running=loop.num_running,
        num_waiting=loop.num_waiting,
        num_parked=loop.num_parked,
        num_used_blocks=blocks.num_used_blocks,
        num_blocks=loop.config.num_blocks,
        num_generated_tokens=core.num_generated_tokens,
        num_preemptions=stats.num_preemptions,
        num_draft_tokens=stats.num_draft_tokens,
        num_accepted_draft_tokens=stats.num_accepted_draft_tokens,
        num_admitted_tokens=stats.num_admitted_tokens,
        num_reused_tokens=stats.num_reused_tokens,
        step_time_s=core.step_time_s,
    )
