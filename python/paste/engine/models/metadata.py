"""AttentionMetadata: the per-step attention input built from the scheduler's plan.

The C++ scheduler produces, each step, numpy int32 arrays describing a flat batch of T query
tokens from n sequences (vLLM / FlashInfer naming). Example: block_size 4, sequence 0 has 5
tokens cached and 2 new ones (chunked prefill or decode-with-append), sequence 1 is a fresh
3-token prompt:

    query tokens t:      0   1 | 2   3   4          query_start_loc = [0, 2, 5]
    positions:           5   6 | 0   1   2          num_computed_tokens = [5, 0]
    seq_lens (after):    7     | 3                  (= num_computed + new tokens)
    block table (CSR):   seq 0 -> blocks [7, 2]     kv_indptr = [0, 2, 3]
                         seq 1 -> blocks [4]        kv_indices = [7, 2, 4]
                                                    kv_last_page_len = [3, 3]
    slot_mapping:        2*4+1=9  2*4+2=10 | 16 17 18   (block_id*block_size + offset; -1 = skip)
    logits_indices:      [1, 4]   (last token of each sequence that samples this step)

Causality: query token t of sequence s sits at position num_computed_tokens[s] + (t -
query_start_loc[s]) and attends to every key of s at positions 0..that position (cached and
same-chunk), i.e. `token_kv_lens[t] = position + 1` keys read through the block table.

`AttentionMetadata.build` converts the arrays once per step to device tensors, keeps the host
copies the backends need for Python-side loops, and validates the invariants above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from paste.errors import InvalidArgumentError


class InvalidPlanError(InvalidArgumentError):
    """The step plan's arrays are inconsistent (lengths, block table vs seq_lens, ...)."""


def _ints(name: str, value: object) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(value), dtype=np.int64)
    if array.ndim != 1:
        raise InvalidPlanError(f"{name} must be 1-D, got shape {array.shape}")
    return array


@dataclass(frozen=True)
class AttentionMetadata:
    """Device tensors (int32 unless noted) plus host copies of one step's attention plan.

    Lifetime: valid for one model forward; backends' plan() may cache data derived from it.
    """

    block_size: int
    positions: torch.Tensor  # [T] int64
    slot_mapping: torch.Tensor  # [T] int64, -1 = do not store
    query_start_loc: torch.Tensor  # [n+1]
    seq_lens: torch.Tensor  # [n]
    num_computed_tokens: torch.Tensor  # [n]
    kv_indptr: torch.Tensor  # [n+1]
    kv_indices: torch.Tensor  # [sum of blocks]
    kv_last_page_len: torch.Tensor  # [n]
    logits_indices: torch.Tensor  # [m] int64
    token_seq_ids: torch.Tensor  # [T] sequence index of each query token
    token_kv_lens: torch.Tensor  # [T] number of keys each query token attends to
    query_start_loc_cpu: np.ndarray  # host copies, int64
    seq_lens_cpu: np.ndarray
    kv_indptr_cpu: np.ndarray
    max_query_len: int
    max_seq_len: int

    @property
    def num_tokens(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_seqs(self) -> int:
        return int(self.seq_lens.shape[0])

    @property
    def is_decode_only(self) -> bool:
        """Every sequence has exactly one query token this step."""
        return self.max_query_len == 1

    @classmethod
    def build(
        cls,
        *,
        block_size: int,
        positions: object,
        slot_mapping: object,
        query_start_loc: object,
        seq_lens: object,
        num_computed_tokens: object,
        kv_indptr: object,
        kv_indices: object,
        kv_last_page_len: object,
        logits_indices: object,
        device: torch.device | str = "cpu",
        num_blocks: int | None = None,
    ) -> AttentionMetadata:
        """Validate the plan arrays (numpy or sequences of ints) and move them to `device`.

        Raises InvalidPlanError if lengths disagree, a sequence's query tokens do not equal
        seq_lens - num_computed_tokens, the block table cannot hold seq_lens, or (when
        `num_blocks`, the KV cache's size, is given) a block id or slot lies outside the cache,
        which GPU kernels would otherwise read or write out of bounds.
        """
        pos, slots = _ints("positions", positions), _ints("slot_mapping", slot_mapping)
        qsl, lens = _ints("query_start_loc", query_start_loc), _ints("seq_lens", seq_lens)
        computed = _ints("num_computed_tokens", num_computed_tokens)
        indptr, indices = _ints("kv_indptr", kv_indptr), _ints("kv_indices", kv_indices)
        last, logits = (
            _ints("kv_last_page_len", kv_last_page_len),
            _ints("logits_indices", logits_indices),
        )
        n, t = lens.shape[0], pos.shape[0]
        if block_size < 1:
            raise InvalidPlanError(f"block_size must be >= 1, got {block_size}")
        if slots.shape[0] != t or qsl.shape[0] != n + 1 or computed.shape[0] != n:
            raise InvalidPlanError(
                "positions, slot_mapping, query_start_loc, "
                "num_computed_tokens and seq_lens lengths disagree"
            )
        if indptr.shape[0] != n + 1 or last.shape[0] != n or indptr[-1] != indices.shape[0]:
            raise InvalidPlanError("kv_indptr / kv_indices / kv_last_page_len disagree")
        if n and (qsl[0] != 0 or qsl[-1] != t):
            raise InvalidPlanError(f"query_start_loc must run from 0 to {t}, got {qsl}")
        q_lens = np.diff(qsl)
        if np.any(q_lens < 0) or np.any(lens != computed + q_lens):
            raise InvalidPlanError("seq_lens must equal num_computed_tokens + query tokens")
        pages = np.diff(indptr)
        if np.any((pages - 1) * block_size + last != lens) or np.any(last > block_size):
            raise InvalidPlanError("block table (kv_indptr, kv_last_page_len) != seq_lens")
        if np.any((last < 1) & (lens > 0)):
            raise InvalidPlanError("kv_last_page_len must be in [1, block_size]")
        if num_blocks is not None and (
            np.any(indices < 0)
            or np.any(indices >= num_blocks)
            or np.any(slots >= num_blocks * block_size)
        ):
            raise InvalidPlanError(f"a block id or slot lies outside the {num_blocks}-block cache")
        if np.any(logits < 0) or np.any(logits >= t):
            raise InvalidPlanError(f"logits_indices out of range [0, {t})")
        seq_ids = np.repeat(np.arange(n, dtype=np.int64), q_lens)
        offsets = np.arange(t, dtype=np.int64) - qsl[:-1][seq_ids] if t else seq_ids
        kv_lens = computed[seq_ids] + offsets + 1
        if np.any(pos != kv_lens - 1):
            raise InvalidPlanError("positions must equal num_computed_tokens + offset in chunk")

        def dev(array: np.ndarray, dtype: torch.dtype = torch.int32) -> torch.Tensor:
            return torch.from_numpy(array).to(device=device, dtype=dtype)

        return cls(
            block_size=block_size,
            positions=dev(pos, torch.int64),
            slot_mapping=dev(slots, torch.int64),
            query_start_loc=dev(qsl),
            seq_lens=dev(lens),
            num_computed_tokens=dev(computed),
            kv_indptr=dev(indptr),
            kv_indices=dev(indices),
            kv_last_page_len=dev(last),
            logits_indices=dev(logits, torch.int64),
            token_seq_ids=dev(seq_ids),
            token_kv_lens=dev(kv_lens),
            query_start_loc_cpu=qsl,
            seq_lens_cpu=lens,
            kv_indptr_cpu=indptr,
            max_query_len=int(q_lens.max()) if n else 0,
            max_seq_len=int(lens.max()) if n else 0,
        )

    @classmethod
    def from_block_tables(
        cls,
        *,
        block_size: int,
        block_tables: Sequence[Sequence[int]],
        num_computed_tokens: Sequence[int],
        num_new_tokens: Sequence[int],
        device: torch.device | str = "cpu",
    ) -> AttentionMetadata:
        """Derive the whole plan from per-sequence block tables (a convenience for tests and
        callers without the C++ scheduler). Each table must hold exactly
        ceil(seq_len / block_size) blocks; every sequence has >= 1 new token and samples
        from its last one."""
        computed = np.asarray(num_computed_tokens, dtype=np.int64)
        new = np.asarray(num_new_tokens, dtype=np.int64)
        if not len(block_tables) == computed.shape[0] == new.shape[0]:
            raise InvalidPlanError("block_tables, num_computed_tokens, num_new_tokens disagree")
        lens = computed + new
        qsl = np.concatenate([[0], np.cumsum(new)]).astype(np.int64)
        positions = np.concatenate(
            [np.zeros(0, dtype=np.int64)]
            + [np.arange(c, c + k) for c, k in zip(computed, new, strict=True)]
        )
        slots = [
            block_tables[s][p // block_size] * block_size + p % block_size
            for s, (c, k) in enumerate(zip(computed, new, strict=True))
            for p in range(c, c + k)
        ]
        indptr = np.concatenate([[0], np.cumsum([len(b) for b in block_tables])])
        indices = [b for table in block_tables for b in table]
        last = lens - (np.asarray([len(b) for b in block_tables]) - 1) * block_size
        return cls.build(
            block_size=block_size,
            positions=positions,
            slot_mapping=slots,
            query_start_loc=qsl,
            seq_lens=lens,
            num_computed_tokens=computed,
            kv_indptr=indptr,
            kv_indices=indices,
            kv_last_page_len=last,
            logits_indices=qsl[1:] - 1,
            device=device,
        )
