"""Python handles to the native core (paste._core).

The classes are the C++ objects themselves (thin pybind11 handles): BlockManager (paged KV
block accounting), BatchLoop (continuous batching: schedule() -> StepPlan, commit() ->
StepEvents). Per-step work stays in C++; Python crosses once per step.
"""

from paste._core import (
    BatchLoop,
    BatchLoopConfig,
    BlockManager,
    FinishReason,
    LoopStats,
    SeqInfo,
    SeqStatus,
    StepEvents,
    StepPlan,
)

__all__ = [
    "BatchLoop",
    "BatchLoopConfig",
    "BlockManager",
    "FinishReason",
    "LoopStats",
    "SeqInfo",
    "SeqStatus",
    "StepEvents",
    "StepPlan",
]
