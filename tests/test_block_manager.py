"""BlockManager through the bindings: exact block ids, eviction order, prefix hits, pins, and
typed errors that leave the state unchanged."""

import pytest

from paste.core import BlockManager
from paste.errors import InvalidArgumentError, OutOfBlocksError, UnknownSequenceError


def add_computed(bm: BlockManager, seq_id: int, tokens: list[int]) -> None:
    prefix = bm.match_prefix(tokens)
    bm.allocate(seq_id, prefix, len(tokens))
    bm.commit_computed(seq_id, tokens, len(tokens))


def test_fresh_blocks_handed_out_in_order():
    bm = BlockManager(6, 4)
    bm.allocate(1, [], 9)
    assert bm.block_table(1) == [0, 1, 2]
    bm.allocate(2, [], 1)
    assert bm.block_table(2) == [3]
    assert bm.num_free_blocks == 2
    assert bm.num_used_blocks == 4


def test_eviction_order_after_frees_is_lru_deepest_first():
    bm = BlockManager(6, 2)
    add_computed(bm, 1, [1, 2, 3, 4])
    add_computed(bm, 2, [5, 6, 7, 8])
    bm.free(2)
    bm.free(1)
    assert bm.free_block_order() == [4, 5, 3, 2, 1, 0]
    assert bm.num_cached_free_blocks == 4
    bm.allocate(3, [], 6)
    assert bm.block_table(3) == [4, 5, 3]
    assert bm.num_evictions == 1
    assert bm.match_prefix([5, 6, 7, 8]) == [2]


def test_prefix_hit_shares_blocks_with_ref_counts():
    bm = BlockManager(8, 4)
    add_computed(bm, 1, list(range(10)))
    assert [bm.is_cached(b) for b in range(3)] == [True, True, False]
    prefix = bm.match_prefix(list(range(8)) + [100])
    assert prefix == [0, 1]
    bm.allocate(2, prefix, 9)
    assert bm.block_table(2) == [0, 1, 3]
    assert [bm.ref_count(b) for b in (0, 1, 3)] == [2, 2, 1]


def test_hash_collisions_never_share_wrong_content():
    bm = BlockManager(16, 2, True, hash_bits=1)
    add_computed(bm, 1, [1, 2, 3, 4, 5, 6])
    for x in range(100):
        assert bm.match_prefix([x, x + 100, 7, 8]) == []


def test_pins_reclaimed_expired_first_then_unexpired_by_expiry():
    bm = BlockManager(6, 2, False)
    bm.allocate(1, [], 4)
    bm.allocate(2, [], 2)
    bm.allocate(3, [], 2)
    bm.pin(1, 30.0)
    bm.pin(2, 10.0)
    bm.pin(3, 20.0)
    assert bm.reclaim_pinned(3, 15.0) == [2]
    assert bm.reclaim_pinned(6, 15.0) == []
    assert bm.reclaim_pinned(6, 15.0, include_unexpired=True) == [3, 1]
    assert bm.num_free_blocks == 6
    assert bm.num_pinned_sequences == 0


def test_bad_input_raises_typed_errors_and_changes_nothing():
    bm = BlockManager(4, 2)
    bm.allocate(1, [], 2)
    before = bm.free_block_order()
    with pytest.raises(InvalidArgumentError, match="already has blocks"):
        bm.allocate(1, [], 2)
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        bm.allocate(2, [], -1)
    with pytest.raises(InvalidArgumentError, match="not a cached block"):
        bm.allocate(2, [3], 4)
    with pytest.raises(OutOfBlocksError):
        bm.allocate(2, [], 100)
    with pytest.raises(UnknownSequenceError, match="unknown sequence id 9"):
        bm.free(9)
    with pytest.raises(InvalidArgumentError, match="not a valid token id"):
        bm.match_prefix([1, -1])
    with pytest.raises(InvalidArgumentError, match="integers"):
        bm.match_prefix([1.5, 2.5])
    assert bm.free_block_order() == before
    assert bm.block_table(1) == [0]
    bm.free(1)
    with pytest.raises(UnknownSequenceError):
        bm.free(1)  # freeing twice
    assert bm.num_free_blocks == 4
    with pytest.raises(InvalidArgumentError):
        BlockManager(-1, 4)
    with pytest.raises(ValueError):  # typed errors are ValueErrors for callers that expect them
        BlockManager(4, 0)
