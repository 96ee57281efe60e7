"""Speculative decoding: draft tokens verified against the model in one step.

A decoding sequence's step may carry d draft tokens after its last token (the BatchLoop
proposes them by prompt lookup, `num_draft_tokens`, or takes them from `set_drafts`), so
the model computes d + 1 logits rows for it in one forward: row j is the distribution of the
token after draft j - 1. `verify` turns those rows into how many drafts are accepted (a) and
one more token, so a step commits a + 1 tokens instead of 1:

    greedy:  a = the drafts that equal their row's argmax; the token is row a's argmax, so
             the output is the one plain greedy decoding writes.
    random:  draft j (a deterministic proposal, q = one-hot) is accepted with probability
             p_j(draft j); at the first rejection the token is drawn from p_j with the draft's
             token removed (p_j - q, clipped at 0); if all are accepted, from p_d. Every
             emitted token is thus distributed exactly as in plain sampling.

p_j is the request's own sampling distribution (temperature, top-k, top-p, min-p), drawn with
its own seeded generator, after its grammar's mask for that row (Grammars.mask_drafted walks
the drafts and rolls back). A teacher-forced request (trace replay) accepts the drafts its forced
output continues with, as a model that writes that output would: the drafts are still the
proposer's guesses, so a replay measures what speculative decoding saves on recorded agent
turns. Requests with logit adjustments and penalties (their counts would have to follow the
drafts too), that ask for logprobs, or whose grammar starts at a special token (its drafts
would pass the token unconstrained) never get drafts (`can_draft`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from paste.engine.request import GenerationParams
from paste.engine.sampler import Sampler, SamplingState, probabilities


def can_draft(params: GenerationParams) -> bool:
    """Whether a request's tokens may be verified from draft rows (module docstring)."""
    return (params.logprobs is None and not params.adjusts_logits
            and (params.grammar is None or params.grammar.start_token is None))


def common_prefix(drafts: Sequence[int], forced: Sequence[int]) -> int:
    """How many leading drafts a teacher-forced output continues with (it accepts those)."""
    n = 0
    while n < min(len(drafts), len(forced)) and drafts[n] == forced[n]:
        n += 1
    return n


def verify(
    sampler: Sampler,
    logits: torch.Tensor,
    sample_indptr: np.ndarray,
    draft_tokens: np.ndarray,
    states: Sequence[SamplingState],
) -> tuple[torch.Tensor, list[int]]:
    """Per sampler i (rows sample_indptr[i] .. sample_indptr[i+1] - 1 of logits [R, V], its
    drafts draft_tokens[sample_indptr[i] - i : sample_indptr[i+1] - i - 1]): the token to
    commit after its accepted drafts ([m] int64) and how many drafts it accepted."""
    m = len(states)
    indptr = [int(x) for x in sample_indptr]
    drafts = torch.from_numpy(np.asarray(draft_tokens, dtype=np.int64))
    logits = logits.float()
    tokens = torch.empty(m, dtype=torch.int64)
    accepted = [0] * m
    argmax = logits.argmax(dim=-1)
    random = [i for i in range(m) if not states[i].params.is_greedy]
    for i in range(m):
        if states[i].params.is_greedy:
            first, d = indptr[i], indptr[i + 1] - indptr[i] - 1
            same = argmax[first : first + d] == drafts[first - i : first - i + d]
            a = int(torch.cumprod(same.to(torch.int64), 0).sum()) if d else 0
            accepted[i], tokens[i] = a, argmax[first + a]
    if random:
        finals = _reject(sampler, logits, indptr, drafts, states, random, accepted)
        tokens[random] = sampler.draw(finals, [states[i] for i in random])
    return tokens, accepted


def _reject(
    sampler: Sampler,
    logits: torch.Tensor,
    indptr: list[int],
    drafts: torch.Tensor,
    states: Sequence[SamplingState],
    random: list[int],
    accepted: list[int],
) -> torch.Tensor:
    """Rejection sampling of the random samplers' drafts: fills `accepted` and returns, per
    sampler in `random` order, the weights its token is drawn from."""
    rows = [r for i in random for r in range(indptr[i], indptr[i + 1])]
    params = [states[i].params for i in random for _ in range(indptr[i], indptr[i + 1])]
    probs = probabilities(logits[rows], params)
    finals = []
    at = 0
    for i in random:
        d = indptr[i + 1] - indptr[i] - 1
        p = probs[at : at + d + 1]
        at += d + 1
        a = d
        if d:
            x = drafts[indptr[i] - i : indptr[i] - i + d]
            rejected = sampler.uniform(d, states[i]) >= p[torch.arange(d), x]
            if bool(rejected.any()):
                a = int(rejected.to(torch.int64).argmax())
        final = p[a].clone()
        if a < d:
            final[int(x[a])] = 0.0
        accepted[i] = a
        finals.append(final)
    return torch.stack(finals)
