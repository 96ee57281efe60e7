"""Logit adjustments before sampling: logit_bias, presence / frequency / repetition penalties
and min_tokens, over the rows of one step that use them.

For a request with any of these set (GenerationParams), each step, before the grammar mask and
the sampler, its logits row l becomes, in this order:

    l[t] += bias[t]                               logit_bias (token id -> bias)
    l[t]  = -inf for t not in allowed             allowed_token_ids (dense: one mask per row)
    l[w[-1]] = -inf for each bad word w (token ids) whose w[:-1] the output ends with
                                                  bad_words (one-token words: always)
    l[t]  = -inf for every stop token t           min_tokens: while fewer output tokens
    l[t]  = l[t] / r if l[t] > 0 else l[t] * r    repetition_penalty r, for each token t seen
                                                  in the prompt or the output so far
    l[t] -= frequency * count[t] + presence * (count[t] > 0)
                                                  count: t's occurrences in the output so far

(OpenAI's presence / frequency penalties count the output of this turn only; repetition_penalty
also counts the prompt, as in vLLM.) A request keeps the distinct tokens it has seen (a set
and a count per output token), so a step touches only those entries of its row: O(distinct
tokens), not O(vocabulary) (a dense pass over a 152k vocabulary costs ~3 ms per row on a CPU
core, as much as a small model's decode step). Requests without any adjustment cost nothing.
Logprobs (GenerationParams.logprobs) stay those of the raw logits. Driven by the engine
thread only, like the BatchLoop.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

import torch

from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError


class LogitBiasError(InvalidArgumentError):
    """A logit_bias or allowed_token_ids token id outside the model's vocabulary."""


class NoTokenError(InvalidArgumentError):
    """A request's constraints left no token to sample at some step (allowed_token_ids the
    grammar or bad_words exclude, min_tokens masking the only allowed stop token). `param`
    names the first request field among them."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param

    def __reduce__(self) -> tuple[Any, ...]:  # crosses the engine process
        return (type(self), (str(self), self.param))


def bad_word_ids(words: tuple[str, ...], encode: Callable[[str], list[int]]
                 ) -> list[tuple[int, ...]]:
    """The token sequences of `words` (GenerationParams.bad_words): each word as the
    tokenizer writes it alone and after a space, distinct, empty ones dropped."""
    out: dict[tuple[int, ...], None] = {}
    for word in words:
        for text in (word.strip(), " " + word.strip()):
            ids = tuple(encode(text))
            if ids:
                out.setdefault(ids, None)
    return list(out)


@dataclass
class _State:
    bias_ids: torch.Tensor | None  # int64 [b]
    bias_values: torch.Tensor | None  # float32 [b]
    stop_ids: torch.Tensor | None  # int64, masked while num_output < min_tokens
    min_tokens: int
    presence: float
    frequency: float
    repetition: float
    allowed: torch.Tensor | None = None  # bool [V]: the allowed_token_ids
    bad_words: list[tuple[int, ...]] = field(default_factory=list)
    tail: list[int] = field(default_factory=list)  # the last output tokens (bad words)
    tail_len: int = 0  # tokens kept in `tail`: the longest bad word's, less its last
    counts: dict[int, int] = field(default_factory=dict)  # output token -> occurrences
    seen: set[int] | None = None  # prompt and output tokens (repetition_penalty only)
    seen_ids: torch.Tensor | None = None  # `seen` as a tensor, rebuilt when it grew
    num_output: int = 0

    @property
    def counts_output(self) -> bool:
        return bool(self.presence or self.frequency)


class LogitAdjustments:
    """The adjustment state of the requests that use one (see the module docstring)."""

    def __init__(self, vocab_size: int, device: torch.device | str = "cpu",
                 encode: Callable[[str], list[int]] | None = None) -> None:
        """`encode(text)`: token ids of a text (bad_words); None: bad_words are refused."""
        self._vocab = vocab_size
        self._encode = encode
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
        for token_id in params.allowed_token_ids:
            if not 0 <= token_id < self._vocab:
                raise LogitBiasError(
                    f"allowed_token_ids token id {token_id} is outside the vocabulary "
                    f"[0, {self._vocab})")
        if params.bad_words and self._encode is None:
            raise InvalidArgumentError("bad_words need the model's tokenizer")

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
        seen = None
        if repetition != 1.0:
            seen = {t for t in prompt_ids if 0 <= t < self._vocab}
        allowed = None
        if params.allowed_token_ids:
            allowed = torch.zeros(self._vocab, dtype=torch.bool, device=dev)
            allowed[list(params.allowed_token_ids)] = True
        bad = []
        if params.bad_words and self._encode is not None:
            bad = [w for w in bad_word_ids(params.bad_words, self._encode)
                   if all(0 <= t < self._vocab for t in w)]
        self._states[seq_id] = _State(
            bias_ids=torch.tensor([t for t, _ in bias], dtype=torch.int64, device=dev)
            if bias else None,
            bias_values=torch.tensor([v for _, v in bias], dtype=torch.float32, device=dev)
            if bias else None,
            stop_ids=torch.tensor(sorted(set(stop_ids)), dtype=torch.int64, device=dev)
            if min_tokens and stop_ids else None,
            min_tokens=min_tokens,
            seen=seen,
            presence=presence,
            frequency=frequency,
            repetition=repetition,
            allowed=allowed,
            bad_words=bad,
            tail_len=max(map(len, bad), default=1) - 1,
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
        dev = logits.device
        for i, st in rows:
            row = logits[i]
            if st.bias_ids is not None and st.bias_values is not None:
                row.index_add_(0, st.bias_ids, st.bias_values.to(row.dtype))
            if st.allowed is not None:
                row.masked_fill_(~st.allowed, float("-inf"))
            if st.bad_words:
                banned = _banned(st.bad_words, st.tail)
                if banned:
                    row[banned] = float("-inf")
            if st.stop_ids is not None and st.num_output < st.min_tokens:
                row.index_fill_(0, st.stop_ids, float("-inf"))
            if st.seen:
                if st.seen_ids is None:
                    st.seen_ids = torch.tensor(sorted(st.seen), dtype=torch.int64, device=dev)
                values = row.index_select(0, st.seen_ids)
                scaled = torch.where(values > 0, values / st.repetition,
                                     values * st.repetition)
                row.index_copy_(0, st.seen_ids, scaled)
            if st.counts_output and st.counts:
                ids = torch.tensor(list(st.counts), dtype=torch.int64, device=dev)
                counts = torch.tensor(list(st.counts.values()), dtype=row.dtype, device=dev)
                row.index_add_(0, ids, -(st.frequency * counts + st.presence))

    def emptied(self, logits: torch.Tensor, seq_ids: list[int], grammars: Container[int]
                ) -> dict[int, NoTokenError]:
        """The tracked sequences whose row of logits [m, V] (`seq_ids[i]` for row i), after
        the adjustments and the grammar masks, allows no token, each with its NoTokenError;
        `grammars`: the sequences that have a grammar."""
        rows = [i for i, s in enumerate(seq_ids) if s in self._states]
        if not rows:
            return {}
        with torch.inference_mode():
            dead = torch.isneginf(logits[rows]).all(dim=1).tolist()
        out = {}
        for i, empty in zip(rows, dead, strict=True):
            if empty:
                sid = seq_ids[i]
                out[sid] = _no_token(self._states[sid], sid in grammars)
        return out

    def accept(self, seq_ids: list[int], tokens: list[int]) -> None:
        """Each tracked sequence committed its token: count it."""
        for sid, tok in zip(seq_ids, tokens, strict=True):
            st = self._states.get(sid)
            if st is None:
                continue
            st.num_output += 1
            if st.bad_words:
                st.tail.append(tok)
                if len(st.tail) > st.tail_len:
                    del st.tail[0]
            if not 0 <= tok < self._vocab:
                continue
            if st.counts_output:
                st.counts[tok] = st.counts.get(tok, 0) + 1
            if st.seen is not None and tok not in st.seen:
                st.seen.add(tok)
                st.seen_ids = None


def _no_token(st: _State, grammar: bool) -> NoTokenError:
    names = [n for n, on in (("allowed_token_ids", st.allowed is not None),
                             ("bad_words", bool(st.bad_words)),
                             ("min_tokens", st.stop_ids is not None
                              and st.num_output < st.min_tokens)) if on]
    param = names[0] if names else "response_format"
    if grammar:
        names.append("the response format or tool grammar")
    together = " and ".join(names) or "the request's constraints"
    return NoTokenError(f"no token is left to sample at output token {st.num_output + 1}: "
                        f"{together} exclude every token of the vocabulary", param)


def _banned(words: list[tuple[int, ...]], tail: list[int]) -> list[int]:
    """The last tokens of the bad words whose other tokens the output ends with."""
    out = []
    for word in words:
        k = len(word) - 1
        if k == 0 or (k <= len(tail) and tuple(tail[len(tail) - k:]) == word[:-1]):
            out.append(word[-1])
    return out
