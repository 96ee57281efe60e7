"""Predicted outputs (OpenAI's `prediction`): a request that knows most of its answer already
(a file rewritten with a few edits, a record restated) gives it, and each decoding step drafts
the prediction's next tokens after the output so far, verified in the same forward as the
step's own token (engine/drafts.py), so a step commits as many tokens as the model agrees
with. The output is exactly what the request writes without a prediction (greedy: the same
tokens; sampled: the same distribution); only the time changes.

Where the output stands in the prediction is followed token by token: while it copies the
prediction, the next position is the one after the last token copied. When it departs (an
edit), the next drafts wait until its last ALIGN_NGRAM tokens occur in the prediction again,
starting at or after the position after the last token it copied (else at their first
occurrence: the edit moved text back), and go on from there. The drafts are explicit
(BatchLoop.set_drafts: verified whole, for this step), up to `num_draft_tokens` per step
(GenerationParams'; PREDICTION_DRAFT_TOKENS when it sets none; 0: no drafts), and a request
whose logits are adjusted or that asks for logprobs (drafts.can_draft) decodes without them.
Per request: the drafted prediction tokens the model accepted and those it rejected (the
rows computed in vain), as its output metrics accepted_prediction_tokens /
rejected_prediction_tokens.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from paste.engine.drafts import can_draft
from paste.engine.request import GenerationParams

PREDICTION_DRAFT_TOKENS = 8
ALIGN_NGRAM = 3  # output tokens that place it in the prediction again after an edit


@dataclass
class _Tracked:
    tokens: tuple[int, ...]
    size: int  # drafts per step, at most
    starts: dict[tuple[int, ...], list[int]]  # n-gram -> the positions after it, ascending
    pos: int | None = 0  # where the output's next token is expected; None: departed
    last: int = 0  # the position after the last token copied
    seen: int = 0  # output tokens followed so far
    accepted: int = 0
    rejected: int = 0
    drafted: int = 0  # drafts given for the current step


def _ngram_starts(tokens: Sequence[int], n: int) -> dict[tuple[int, ...], list[int]]:
    out: dict[tuple[int, ...], list[int]] = {}
    for end in range(n, len(tokens)):
        out.setdefault(tuple(tokens[end - n : end]), []).append(end)
    return out


class Predictions:
    """The predicted outputs of an engine's requests, by sequence id."""

    def __init__(self) -> None:
        self._tracked: dict[int, _Tracked] = {}

    def __bool__(self) -> bool:
        return bool(self._tracked)

    def add(self, seq_id: int, params: GenerationParams) -> None:
        """Follow `seq_id`'s prediction (nothing when it has none or cannot draft)."""
        size = (PREDICTION_DRAFT_TOKENS if params.num_draft_tokens is None
                else params.num_draft_tokens)
        if not params.prediction or not size or not can_draft(params):
            return
        self._tracked[seq_id] = _Tracked(tuple(params.prediction), size,
                                         _ngram_starts(params.prediction, ALIGN_NGRAM))

    def remove(self, seq_id: int) -> None:
        self._tracked.pop(seq_id, None)

    def seq_ids(self) -> list[int]:
        """The sequences whose predictions are followed."""
        return list(self._tracked)

    def drafts(self, outputs: Mapping[int, Sequence[int]],
               skip: Collection[int] = ()) -> dict[int, list[int]]:
        """Each followed sequence's drafts for the next step, given the output tokens of
        each (`outputs[seq_id]`, seq_id in seq_ids()); none for one placed nowhere in its
        prediction or in `skip` (drafted otherwise this step)."""
        out: dict[int, list[int]] = {}
        for seq_id, t in self._tracked.items():
            self._follow(t, outputs[seq_id])
            t.drafted = 0
            if seq_id not in skip and t.pos is not None and t.pos < len(t.tokens):
                out[seq_id] = list(t.tokens[t.pos : t.pos + t.size])
                t.drafted = len(out[seq_id])
        return out

    def record(self, verdicts: Mapping[int, tuple[int, int]]) -> None:
        """The step's verdicts: `verdicts[seq_id]` = (drafts the step verified, drafts
        accepted) of every drafted sequence; those drafted from their prediction count."""
        for seq_id, (verified, accepted) in verdicts.items():
            t = self._tracked.get(seq_id)
            if t is not None and t.drafted:
                t.accepted += accepted
                t.rejected += verified - accepted
                t.drafted = 0

    def counts(self, seq_id: int) -> tuple[int, int] | None:
        """(accepted, rejected) prediction tokens of `seq_id` so far; None when not followed."""
        t = self._tracked.get(seq_id)
        return None if t is None else (t.accepted, t.rejected)

    @staticmethod
    def _follow(t: _Tracked, output: Sequence[int]) -> None:
        for token in output[t.seen :]:
            if t.pos is not None and t.pos < len(t.tokens) and t.tokens[t.pos] == token:
                t.pos += 1
                t.last = t.pos
            else:
                t.pos = None
        t.seen = len(output)
        if t.pos is None and len(output) >= ALIGN_NGRAM:
            starts = t.starts.get(tuple(output[-ALIGN_NGRAM:]))
            if starts:
                # the n-gram after the last copied position, else the first (text moved back)
                t.pos = next((s for s in starts if s - ALIGN_NGRAM >= t.last), starts[0])
