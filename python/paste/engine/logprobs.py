"""TokenLogprobs from the model's distribution: output tokens' (GenerationParams.logprobs) and
prompt tokens' (GenerationParams.prompt_logprobs, for scoring).

Both are the raw model's log-softmax (before temperature, top-k/p, penalties or grammars). A
token's rank is 1 + the number of tokens strictly more likely, so tied tokens share the best
rank. Prompt rows are scored in slices of SLICE_ROWS, so a long prompt never holds more than
SLICE_ROWS x vocab logits at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from paste.engine.request import TokenLogprob

SLICE_ROWS = 256


def token_logprobs(logits: torch.Tensor, tokens: Sequence[int],
                   ks: Sequence[int]) -> list[TokenLogprob]:
    """One TokenLogprob per row of `logits` (float rows [r, vocab], the raw model's):
    `tokens[i]`'s log-probability and rank, with the `ks[i]` most likely tokens'. The
    log-softmax is never materialised: each value is a logit minus its row's logsumexp."""
    if not len(tokens):
        return []
    index = torch.tensor(list(tokens), dtype=torch.int64, device=logits.device)
    lse = torch.logsumexp(logits, dim=-1, keepdim=True)
    chosen = logits.gather(1, index[:, None])
    ranks = ((logits > chosen).sum(dim=1) + 1).tolist()
    values = (chosen - lse)[:, 0].tolist()
    k = max(ks)
    top_ids: list[list[int]] = [[] for _ in tokens]
    top_values: list[list[float]] = [[] for _ in tokens]
    if k:
        top = logits.topk(k, dim=-1)
        top_ids, top_values = top.indices.tolist(), (top.values - lse).tolist()
    return [TokenLogprob(int(tok), float(value),
                         tuple(zip(ids[:n], vals[:n], strict=True)), int(rank))
            for tok, value, ids, vals, n, rank
            in zip(tokens, values, top_ids, top_values, ks, ranks, strict=True)]  # fmt: skip


def score_prompt_rows(logits: Callable[[torch.Tensor], torch.Tensor], hidden: torch.Tensor,
                      targets: Sequence[int], k: int) -> list[TokenLogprob]:
    """The TokenLogprob of `targets[i]` under the logits of hidden row i (`logits(rows)`: the
    model's float logits of hidden rows), with the k most likely tokens; in slices."""
    out: list[TokenLogprob] = []
    for lo in range(0, len(targets), SLICE_ROWS):
        part = targets[lo : lo + SLICE_ROWS]
        out += token_logprobs(logits(hidden[lo : lo + len(part)]).float(), part, [k] * len(part))
    return out
