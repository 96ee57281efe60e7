"""Python handles to the native core (paste._core).

The classes are the C++ objects themselves (thin pybind11 handles): BlockManager (paged KV
block accounting), BatchLoop (continuous batching: schedule() -> StepPlan, commit() ->
StepEvents), DispatchQueue (lock-free two-lane queue of tool job ids), TrieMatcher (decoded
tokens vs. predicted calls), ToolCallScanner (call boundaries in the token stream). Per-step
work stays in C++; Python crosses once per step. propose_ngram_draft is the n-gram draft
proposer BatchLoop uses for speculative decoding (draft tokens), exposed on its own.
"""

from paste._core import (
    BatchLoop,
    BatchLoopConfig,
    BlockManager,
    DispatchQueue,
    FinishReason,
    Lane,
    LoopStats,
    MatchState,
    MatchStatus,
    ScanEventKind,
    ScanMode,
    SeqInfo,
    SeqStatus,
    StepEvents,
    StepPlan,
    ToolCallScanner,
    TrieMatcher,
    propose_ngram_draft,
)

__all__ = [
    "BatchLoop",
    "BatchLoopConfig",
    "BlockManager",
    "DispatchQueue",
    "FinishReason",
    "Lane",
    "LoopStats",
    "MatchState",
    "MatchStatus",
    "ScanEventKind",
    "ScanMode",
    "SeqInfo",
    "SeqStatus",
    "StepEvents",
    "StepPlan",
    "ToolCallScanner",
    "TrieMatcher",
    "propose_ngram_draft",
]
