"""Embeddings: a prompt pooled from the model's hidden states (vLLM's pooling runner, served
as `/v1/embeddings`).

A request with GenerationParams.pooling runs its prompt through the model as any request
does and ends there: its embedding is the final-norm hidden state of its last prompt token
(`LAST`, the pooling of decoder embedding models such as Qwen3-Embedding, and vLLM's default
for them) or the mean over every prompt token's (`MEAN`), L2-normalised unless
`normalize=False`, in float32 (RequestOutput.embedding). LAST needs only the row the engine
samples from, so a cached prefix is reused; MEAN needs every prompt row, so its prompt rows
are listed as prompt logprobs' are (SeqParams.prompt_logits: no cached prefix is reused, a
chunked prefill adds each chunk's rows to the sum, and rows a preempted sequence computes
again are not added twice). The request samples the one token its max_tokens of 1 allows;
that token is not part of the embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paste.errors import InvalidArgumentError

if TYPE_CHECKING:  # torch is imported where a Pooler runs: the CLI and config need only
    import torch  # PoolingParams

POOLING_TYPES = ("LAST", "MEAN")


@dataclass(frozen=True)
class PoolingParams:
    """How a pooled request's hidden states become its embedding."""

    pooling_type: str = "LAST"
    normalize: bool = True

    def __post_init__(self) -> None:
        if self.pooling_type not in POOLING_TYPES:
            raise InvalidArgumentError(f"pooling_type must be one of {', '.join(POOLING_TYPES)}, "
                                       f"got {self.pooling_type!r}")
        if not isinstance(self.normalize, bool):
            raise InvalidArgumentError(f"normalize must be true or false, got "
                                       f"{self.normalize!r}")

    @property
    def needs_prompt_rows(self) -> bool:
        return self.pooling_type == "MEAN"


class Pooler:
    """The engine's pooled sequences and the running sums of the MEAN-pooled ones' prompt
    rows, until their last row."""

    def __init__(self) -> None:
        self._sums: dict[int, tuple[torch.Tensor, int]] = {}
        self._pooled: set[int] = set()  # sequence ids of the pooled requests in flight

    def add(self, seq_id: int) -> None:
        """Sequence `seq_id` is a pooled request (until remove)."""
        self._pooled.add(seq_id)

    def rows(self, sample_ids: list[int], logits_indices: Any, sample_indptr: Any
             ) -> list[tuple[int, int]]:
        """(sequence id, token row) of the step's pooled sequences whose prompt ends in this
        step: the row of the last prompt token, which the engine samples from (plan.
        logits_indices; with drafts in the step, sampler i's row is its sample_indptr[i]-th).
        Free when no pooled request is in flight."""
        if not self._pooled:
            return []
        drafted = len(logits_indices) > len(sample_ids)
        starts = sample_indptr.tolist() if drafted else range(len(sample_ids))
        return [(sid, int(logits_indices[starts[i]])) for i, sid in enumerate(sample_ids)
                if sid in self._pooled]

    def add_rows(self, seq_id: int, first: int, hidden: torch.Tensor) -> None:
        """Prompt rows [n, hidden] of a MEAN-pooled sequence, of positions first .. first +
        n - 1 (a prefill chunk's). Positions already summed are skipped: a preempted sequence
        computes its prompt again from position 0 (recompute), and its rows must count once."""
        import torch

        total, count = self._sums.get(seq_id, (torch.zeros(hidden.shape[-1]), 0))
        new = hidden[max(0, count - first):]
        if len(new):
            self._sums[seq_id] = (total + new.float().sum(dim=0).cpu(), count + len(new))

    def finish(self, seq_id: int, last: torch.Tensor, params: PoolingParams) -> list[float]:
        """The embedding of a sequence whose last prompt row is `last` [hidden]."""
        import torch

        vector = last.float().cpu()
        total, count = self._sums.pop(seq_id, (torch.zeros_like(vector), 0))
        if params.pooling_type == "MEAN":
            vector = (total + vector) / (count + 1)
        if params.normalize:
            vector = torch.nn.functional.normalize(vector, dim=0)
        return vector.tolist()

    def remove(self, seq_id: int) -> None:
        self._sums.pop(seq_id, None)
        self._pooled.discard(seq_id)
