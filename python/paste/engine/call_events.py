"""Tool-call events of a request: which format the engine watches for, and what it saw each step.

A request opts in with GenerationParams.call_scan (the tool-call format: tag or json mode of
the C++ ToolCallScanner) and, for speculation, GenerationParams.call_candidates (predicted
calls as token ids, matched by the C++ TrieMatcher). Each step's RequestOutput.call_events
lists the events of the token decoded in that step, scanner events first:

    CALL_START      the token completing the start tag / holding the call's opening '{'
    CALL_COMPLETE   the token completing the end tag / holding the closing '}' (dispatch now)
    CONFIRMED       the call being decoded is exactly candidate `candidate_id` (at its last token)
    REFUTED         the call being decoded left every candidate (at the first diverging token),
                    or was complete before any candidate ended

Where a candidate's tokens start (engine/call_watch.py): tag mode, right after the start tag;
json mode, at the token holding the '{'. token_index counts this request's output tokens from 0.

A reasoning model's thinking is not its answer: with GenerationParams.call_reasoning (a
ReasoningGate) nothing is scanned or matched until the thinking has closed, so a call the
model drafts while thinking neither confirms nor refutes a prediction (parsing/reasoning.py
splits the text the same way).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from paste.errors import InvalidArgumentError

SCAN_MODES = ("tag", "json")


class CallEventKind(enum.Enum):
    CALL_START = "call_start"
    CALL_COMPLETE = "call_complete"
    CONFIRMED = "confirmed"
    REFUTED = "refuted"


@dataclass(frozen=True)
class ReasoningGate:
    """Where a reasoning model's answer starts, in token ids: after `close_ids` (`</think>`)
    when the output opens with `open_ids` (`<think>`; blank tokens before it allowed) or when
    `inside` (the prompt opened the thinking); at the first token otherwise. InvalidArgumentError
    for empty or negative ids."""

    open_ids: tuple[int, ...]
    close_ids: tuple[int, ...]
    inside: bool = False

    def __post_init__(self) -> None:
        for name in ("open_ids", "close_ids"):
            ids = getattr(self, name)
            if not ids or any(not isinstance(t, int) or t < 0 for t in ids):
                raise InvalidArgumentError(
                    f"call_reasoning {name} must be non-empty, non-negative token ids")


@dataclass(frozen=True)
class CallEvent:
    kind: CallEventKind
    token_index: int
    candidate_id: int = -1  # CONFIRMED only


@dataclass(frozen=True)
class CallScan:
    """How a model format marks its tool calls (see csrc/include/paste/tool_call_scanner.h).

    mode "tag": the call sits between start_tag and end_tag (text, tokenised by the engine).
    mode "json": the call is a top-level JSON object; json_start_anywhere lets any top-level
    '{' start one, code_fences lets a ```json fence hold one. Raises InvalidArgumentError for a
    mode that is not "tag"/"json", a tag mode without both tags, or tags in json mode.
    """

    mode: str
    start_tag: str = ""
    end_tag: str = ""
    json_start_anywhere: bool = False
    code_fences: bool = False

    def __post_init__(self) -> None:
        if self.mode not in SCAN_MODES:
            raise InvalidArgumentError(
                f"call_scan mode must be one of {', '.join(SCAN_MODES)}, got {self.mode!r}"
            )
        if self.mode == "tag" and not (self.start_tag and self.end_tag):
            raise InvalidArgumentError("call_scan tag mode needs a start_tag and an end_tag")
        if self.mode == "json" and (self.start_tag or self.end_tag):
            raise InvalidArgumentError("call_scan json mode takes no tags")


def check_candidates(candidates: tuple[tuple[int, tuple[int, ...]], ...],
                     scan: CallScan | None) -> None:
    """Validates GenerationParams.call_candidates; InvalidArgumentError says what is wrong."""
    if not candidates:
        return
    if scan is None:
        raise InvalidArgumentError("call_candidates need a call_scan (where calls start)")
    seen: set[int] = set()
    for cand_id, tokens in candidates:
        if cand_id < 0 or cand_id in seen:
            raise InvalidArgumentError(
                f"call_candidates ids must be distinct and >= 0, got {cand_id}"
            )
        if not tokens or any(t < 0 for t in tokens):
            raise InvalidArgumentError(
                f"call candidate {cand_id} needs non-empty, non-negative token ids"
            )
        seen.add(cand_id)
