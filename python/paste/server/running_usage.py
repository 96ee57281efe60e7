"""Continuous usage stats (vLLM's stream_options.continuous_usage_stats): each chunk of a
streamed choice carries that choice's usage so far, from the TokenCountPieces of its turn
(generation.py); chat.py and completions.py keep the counts on their choices."""

from __future__ import annotations

from typing import Any, Protocol

from paste.server.generation import TokenCountPiece


class Counted(Protocol):
    counts: tuple[int, int] | None  # (prompt, output) tokens so far


def count(sharing: list[Any], choice: Counted, piece: TokenCountPiece) -> None:
    """Records `piece` as `choice`'s counts. The choices of `sharing` (those of the same
    prompt) that have none yet start at its prompt with 0 output tokens, so that their
    opening chunks carry their usage too."""
    for other in sharing:
        if other.counts is None:
            other.counts = (piece.num_prompt_tokens, 0)
    choice.counts = (piece.num_prompt_tokens, piece.num_completion_tokens)


def running_usage(counts: tuple[int, int] | None, continuous: bool) -> dict[str, int] | None:
    """The `usage` of a chunk: None unless `continuous` and the choice's counts are known."""
    if not continuous or counts is None:
        return None
    prompt, completion = counts
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}
