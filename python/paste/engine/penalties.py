"""Logit adjustments before sampling: logit_bias, presence / frequency / repetition penalties
and min_tokens, batched over the rows of one step that use them.

For a request with any of these set (GenerationParams), each step, before the grammar mask and
the sampler, its logits row l becomes, in this order:

    l[t] += bias[t]                               logit_bias (token id -> bias)
    l[t]  = -inf for every stop token t           min_tokens: while fewer output tokens
    l[t]  = l[t] / r if l[t] > 0 else l[t] * r    repetition_penalty r, for each token t seen
                                                  in the prompt or the output so far
    l[t] -= frequency * count[t] + presence * (count[t] > 0)
                                                  count: t's occurrences in the output so far

(OpenAI's presence / frequency penalties count the output of this turn only; repetition_penalty
also counts the prompt, as in vLLM.) Counts are kept per request as a dense [vocab] tensor,
updated by one index per committed token, so a step costs O(rows x vocab), not O(tokens
generated). Requests without any adjustment cost nothing. Logprobs (GenerationParams.logprobs)
stay those of the raw logits. Driven by the engine thread only, like the BatchLoop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError


class LogitBiasError(InvalidArgumentError):
    """A logit_bias token id outside the model's vocabulary."""


@dataclass
class _State:
    bias_ids: torch.Tensor | None  # int64 [b]
    bias_values: torch.Tensor | None  # float32 [b]
    stop_ids: torch.Tensor | None  # int64, masked while num_output < min_tokens
    min_tokens: int
    counts: torch.Tensor | None  # float32 [V]: output occurrences (any penalty set)
    seen_in_prompt: torch.Tensor | None  # bool [V] (repetition_penalty only)
    presence: float
    frequency: float
    repetition: float
    num_output: int = 0


class LogitAdjustments:
    """The adjustment state of the requests that use one (see the module docstring)."""

    def __init__(self, vocab_size: int, device: torch.device | str = "cpu") -> None:
        self._vocab = vocab_size
        self._device = torch.device(device)
        self._states: dict[int, _State] = {}

    def check(self, params: GenerationParams) -> None:
        """LogitBiasError, before anything is queued, for a bias on a token id the model
        does not have."""
        for token_id, _ in params.logit_bias:
            if not 0 <= token_id < self._vocab:
                raise LogitBiasError(
                    f"logit_bias token id {token_id} is outside the vocabulary "
                    f"[0, {self._vocab})")

    def add(self, seq_id: int, params: GenerationParams, prompt_ids: list[int],
            stop_ids: list[int]) -> None:
        """Track sequence `seq_id` if its params use an adjustment (else nothing);
        `stop_ids` are the tokens that would end it (masked until min_tokens)."""
        if not params.adjusts_logits:
            return
        dev = self._device
        bias = list(params.logit_bias)
        presence = float(params.presence_penalty)
        frequency = float(params.frequency_penalty)
        repetition = float(params.repetition_penalty)
        min_tokens = params.min_tokens
        counts = None
        if presence or frequency or repetition != 1.0:
            counts = torch.zeros(self._vocab, dtype=torch.float32, device=dev)
        seen = None
        if repetition != 1.0:
            seen = torch.zeros(self._vocab, dtype=torch.bool, device=dev)
            ids = [t for t in prompt_ids if 0 <= t < self._vocab]
            if ids:
                seen[torch.tensor(ids, dtype=torch.int64, device=dev)] = True
        self._states[seq_id] = _State(
            bias_ids=torch.tensor([t for t, _ in bias], dtype=torch.int64, device=dev)
            if bias else None,
            bias_values=torch.tensor([v for _, v in bias], dtype=torch.float32, device=dev)
            if bias else None,
            stop_ids=torch.tensor(sorted(set(stop_ids)), dtype=torch.int64, device=dev)
            if min_tokens and stop_ids else None,
            min_tokens=min_tokens,
            counts=counts,
            seen_in_prompt=seen,
            presence=presence,
            frequency=frequency,
            repetition=repetition,
        )

    def remove(self, seq_id: int) -> None:
        self._states.pop(seq_id, None)

    def apply(self, logits: torch.Tensor, seq_ids: list[int]) -> None:
        """Adjust, in place, the rows of logits [m, V] whose sequence (`seq_ids[i]` for row
        i) uses an adjustment."""
        rows = [(i, self._states[s]) for i, s in enumerate(seq_ids) if s in self._states]
        if rows:
            with torch.inference_mode():  # the model's logits are inference tensors
                self._apply(logits, rows)

    def _apply(self, logits: torch.Tensor, rows: list[tuple[int, _State]]) -> None:
        penalized: list[tuple[int, _State]] = []
        for i, st in rows:
            if st.bias_ids is not None and st.bias_values is not None:
                logits[i].index_add_(0, st.bias_ids, st.bias_values.to(logits.dtype))
            if st.stop_ids is not None and st.num_output < st.min_tokens:
                logits[i].index_fill_(0, st.stop_ids, float("-inf"))
            if st.counts is not None:
                penalized.append((i, st))
        if not penalized:
            return
        index = torch.tensor([i for i, _ in penalized], dtype=torch.int64, device=logits.device)
        block = logits.index_select(0, index).float()
        counts = torch.stack([st.counts for _, st in penalized if st.counts is not None])
        dev = block.device
        rep = torch.tensor([st.repetition for _, st in penalized], device=dev)[:, None]
        if bool((rep != 1.0).any()):
            seen = counts > 0
            for j, (_, st) in enumerate(penalized):
                if st.seen_in_prompt is not None:
                    seen[j] |= st.seen_in_prompt
            scaled = torch.where(block > 0, block / rep, block * rep)
            block = torch.where(seen, scaled, block)
        freq = torch.tensor([st.frequency for _, st in penalized], device=dev)[:, None]
        pres = torch.tensor([st.presence for _, st in penalized], device=dev)[:, None]
        block = block - freq * counts - pres * (counts > 0).float()
        logits.index_copy_(0, index, block.to(logits.dtype))

    def accept(self, seq_ids: list[int], tokens: list[int]) -> None:
        """Each tracked sequence committed its token: count it."""
        for sid, tok in zip(seq_ids, tokens, strict=True):
            st = self._states.get(sid)
            if st is None:
                continue
            st.num_output += 1
            if st.counts is not None and 0 <= tok < self._vocab:
                st.counts[tok] += 1.0
