"""BatchLoop through the bindings: exact plans (flat arrays), commit events, priorities,
prefix hits on returning turns, parking, preemption, and typed errors."""

import numpy as np
import pytest

from paste.core import BatchLoop, BatchLoopConfig, FinishReason, SeqStatus
from paste.errors import InvalidArgumentError, UnknownSequenceError


def make_loop(num_blocks=8, block_size=4, budget=32, max_seqs=8, max_len=32, **kw):
    return BatchLoop(
        BatchLoopConfig(
            num_blocks=num_blocks,
            block_size=block_size,
            max_num_batched_tokens=budget,
            max_num_seqs=max_seqs,
            max_model_len=max_len,
            **kw,
        )
    )


def step(loop, token, now=0.0):
    plan = loop.schedule(now)
    return plan, loop.commit(np.full(len(plan.sample_seq_ids), token, dtype=np.int32))


def test_first_step_plan_arrays_are_exact():
    loop = make_loop()
    a = loop.add_sequence([10, 11, 12, 13, 14])
    b = loop.add_sequence(np.array([20, 21], dtype=np.int64))
    plan = loop.schedule(0.0)
    assert plan.seq_ids.tolist() == [a, b]
    assert plan.input_ids.tolist() == [10, 11, 12, 13, 14, 20, 21]
    assert plan.positions.tolist() == [0, 1, 2, 3, 4, 0, 1]
    assert plan.slot_mapping.tolist() == [0, 1, 2, 3, 4, 8, 9]
    assert plan.query_start_loc.tolist() == [0, 5, 7]
    assert plan.seq_lens.tolist() == [5, 2]
    assert plan.kv_indptr.tolist() == [0, 2, 3]
    assert plan.kv_indices.tolist() == [0, 1, 2]
    assert plan.kv_last_page_len.tolist() == [1, 2]
    assert plan.logits_indices.tolist() == [4, 6]
    assert plan.input_ids.dtype == np.int32 and plan.seq_ids.dtype == np.int64
    events = loop.commit([100, 200])
    assert events.seq_ids.tolist() == [a, b]
    assert events.tokens.tolist() == [100, 200]
    assert events.finish_reasons.tolist() == [0, 0]
    assert loop.tokens(a) == [10, 11, 12, 13, 14, 100]
    decode = loop.schedule(1.0)
    assert decode.input_ids.tolist() == [100, 200]
    assert decode.slot_mapping.tolist() == [5, 10]
    # Plan arrays are read-only views valid until the next schedule(); an older plan refuses.
    assert not decode.input_ids.flags.writeable
    with pytest.raises(InvalidArgumentError, match="stale"):
        _ = plan.input_ids
    assert len(events) == 2  # events stay valid until the next commit()
    later = loop.commit([1, 2])
    assert later.tokens.tolist() == [1, 2]
    with pytest.raises(InvalidArgumentError, match="stale"):
        len(events)


def test_finish_reasons_and_freeing():
    loop = make_loop()
    a = loop.add_sequence([1, 2], max_tokens=5, stop_token_ids=[99])
    b = loop.add_sequence([3], max_tokens=2)
    step(loop, 7)
    loop.schedule(0.0)
    events = loop.commit([99, 7])
    assert events.finish_reasons.tolist() == [int(FinishReason.STOP), int(FinishReason.LENGTH)]
    assert not loop.has_sequence(a) and not loop.has_sequence(b)
    assert loop.block_manager.num_free_blocks == 8
    assert not loop.has_unfinished


def test_priority_order_and_no_overtaking():
    loop = make_loop(num_blocks=16, budget=64, max_seqs=2)
    a = loop.add_sequence([1], priority=0.0)
    b = loop.add_sequence([2], priority=5.0)
    c = loop.add_sequence([3], priority=1.0)
    assert loop.waiting_order() == [b, c, a]
    plan, _ = step(loop, 7)
    assert plan.seq_ids.tolist() == [b, c]
    loop.set_priority(a, 10.0)
    plan, _ = step(loop, 7)
    assert plan.seq_ids.tolist() == [b, c]
    assert loop.seq_info(a).status == SeqStatus.WAITING


def test_returning_turn_prefills_only_new_tokens():
    loop = make_loop(num_blocks=16, budget=64)
    a = loop.add_sequence([1, 2, 3, 4, 5], max_tokens=2, park_on_finish=True, pin_ttl_s=5.0)
    step(loop, 6)
    step(loop, 7)
    info = loop.seq_info(a)
    assert (info.status, info.num_computed_tokens, info.num_tokens) == (SeqStatus.PARKED, 6, 7)
    assert loop.block_manager.is_pinned(a)
    assert loop.num_parked == 1
    loop.resume(a, [50, 51, 52], max_tokens=4, priority=2.0)
    plan = loop.schedule(1.0)
    assert plan.input_ids.tolist() == [7, 50, 51, 52]
    assert plan.positions.tolist() == [6, 7, 8, 9]
    assert plan.admitted_num_reused.tolist() == [6]
    assert not loop.block_manager.is_pinned(a)
    loop.commit([1])
    assert loop.stats.num_reused_tokens == 6


def test_preemption_picks_lowest_priority_and_keeps_tokens():
    loop = make_loop(num_blocks=4, block_size=2, budget=64, max_len=8)
    a = loop.add_sequence([1, 2, 3], max_tokens=4, priority=1.0)
    b = loop.add_sequence([4, 5, 6], max_tokens=4, priority=0.0)
    step(loop, 9)
    step(loop, 9)
    plan, _ = step(loop, 9)
    assert plan.preempted_seq_ids.tolist() == [b]
    assert plan.seq_ids.tolist() == [a]
    assert loop.seq_info(b).num_computed_tokens == 0
    assert loop.tokens(b) == [4, 5, 6, 9, 9]
    assert loop.stats.num_preemptions == 1


def test_bad_input_raises_and_changes_nothing():
    loop = make_loop(max_len=16)
    with pytest.raises(InvalidArgumentError, match="at least one token"):
        loop.add_sequence([])
    with pytest.raises(InvalidArgumentError, match="not a valid token id"):
        loop.add_sequence([1, -2])
    with pytest.raises(InvalidArgumentError, match="max_model_len"):
        loop.add_sequence([1] * 16)
    with pytest.raises(InvalidArgumentError, match="max_tokens"):
        loop.add_sequence([1], max_tokens=0)
    with pytest.raises(InvalidArgumentError, match="integers"):
        loop.add_sequence(["a", "b"])
    assert loop.num_waiting == 0
    a = loop.add_sequence([1, 2])
    with pytest.raises(UnknownSequenceError):
        loop.free(a + 1)
    with pytest.raises(InvalidArgumentError, match="not parked"):
        loop.resume(a, [3])
    loop.schedule(0.0)
    assert loop.step_in_flight
    with pytest.raises(InvalidArgumentError, match="between schedule"):
        loop.free(a)
    with pytest.raises(InvalidArgumentError, match="expects 1"):
        loop.commit([1, 2])
    assert loop.seq_info(a).num_computed_tokens == 0
    loop.commit([3])
    with pytest.raises(InvalidArgumentError, match="without a scheduled step"):
        loop.commit([3])
    assert loop.tokens(a) == [1, 2, 3]
    loop.free(a)
    with pytest.raises(UnknownSequenceError):
        loop.free(a)  # freeing twice
    with pytest.raises(InvalidArgumentError, match="blocks"):
        make_loop(num_blocks=2, max_len=64)
