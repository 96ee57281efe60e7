"""AttentionMetadata: derived per-token fields and rejection of inconsistent plans."""

from __future__ import annotations

import numpy as np
import pytest

from paste.engine.models.metadata import AttentionMetadata, InvalidPlanError
from paste.errors import InvalidArgumentError


def _docstring_plan(**override: object) -> dict[str, object]:
    plan: dict[str, object] = dict(
        block_size=4,
        positions=np.array([5, 6, 0, 1, 2], dtype=np.int32),
        slot_mapping=np.array([9, 10, 16, 17, 18], dtype=np.int32),
        query_start_loc=np.array([0, 2, 5], dtype=np.int32),
        seq_lens=np.array([7, 3], dtype=np.int32),
        num_computed_tokens=np.array([5, 0], dtype=np.int32),
        kv_indptr=np.array([0, 2, 3], dtype=np.int32),
        kv_indices=np.array([7, 2, 4], dtype=np.int32),
        kv_last_page_len=np.array([3, 3], dtype=np.int32),
        logits_indices=np.array([1, 4], dtype=np.int32),
    )
    plan.update(override)
    return plan


def test_docstring_example_derives_per_token_fields() -> None:
    md = AttentionMetadata.build(**_docstring_plan())  # type: ignore[arg-type]
    assert md.token_seq_ids.tolist() == [0, 0, 1, 1, 1]
    assert md.token_kv_lens.tolist() == [6, 7, 1, 2, 3]
    assert (md.num_tokens, md.num_seqs, md.max_query_len, md.max_seq_len) == (5, 2, 3, 7)
    assert not md.is_decode_only


def test_from_block_tables_reproduces_the_docstring_plan() -> None:
    md = AttentionMetadata.from_block_tables(
        block_size=4, block_tables=[[7, 2], [4]], num_computed_tokens=[5, 0], num_new_tokens=[2, 3]
    )
    assert md.slot_mapping.tolist() == [9, 10, 16, 17, 18]
    assert md.kv_indptr.tolist() == [0, 2, 3]
    assert md.kv_indices.tolist() == [7, 2, 4]
    assert md.kv_last_page_len.tolist() == [3, 3]
    assert md.logits_indices.tolist() == [1, 4]


@pytest.mark.parametrize(
    "override",
    [
        {"seq_lens": np.array([8, 3])},  # != computed + new
        {"kv_last_page_len": np.array([4, 3])},  # block table holds 8 tokens, not 7
        {"positions": np.array([5, 7, 0, 1, 2])},  # not contiguous within the chunk
        {"logits_indices": np.array([1, 5])},  # out of range
        {"slot_mapping": np.array([9, 10, 16])},  # wrong length
        {"kv_indices": np.array([7, 2])},  # kv_indptr says 3 blocks
        {  # last page empty: seq 0 would need 3 pages for 8 = 2 * 4 + 0 tokens
            "seq_lens": np.array([8, 3]),
            "num_computed_tokens": np.array([6, 0]),
            "positions": np.array([6, 7, 0, 1, 2]),
            "kv_indptr": np.array([0, 3, 4]),
            "kv_indices": np.array([7, 2, 5, 4]),
            "kv_last_page_len": np.array([0, 3]),
        },
    ],
)
def test_inconsistent_plans_raise_typed_error(override: dict[str, object]) -> None:
    with pytest.raises(InvalidPlanError) as info:
        AttentionMetadata.build(**_docstring_plan(**override))  # type: ignore[arg-type]
    assert isinstance(info.value, InvalidArgumentError)


def test_block_ids_and_slots_are_checked_against_the_cache_size() -> None:
    AttentionMetadata.build(**_docstring_plan(), num_blocks=8)  # type: ignore[arg-type]
    with pytest.raises(InvalidPlanError, match="outside the 7-block cache"):
        AttentionMetadata.build(**_docstring_plan(), num_blocks=7)  # type: ignore[arg-type]
    slots = np.array([9, 10, 16, 17, 32])
    with pytest.raises(InvalidPlanError, match="outside the 8-block cache"):
        AttentionMetadata.build(**_docstring_plan(slot_mapping=slots), num_blocks=8)  # type: ignore[arg-type]
