"""BatchLoop draft tokens (speculative decoding) through the bindings: config kwargs, exact plan
views (sample_indptr, draft_tokens, logits rows), commit with num_accepted, explicit drafts,
stats, propose_ngram_draft, typed errors that change nothing, and a randomised KV-model check."""

import random

import numpy as np
import pytest

from paste.core import BatchLoop, BatchLoopConfig, SeqStatus, propose_ngram_draft
from paste.errors import InvalidArgumentError, UnknownSequenceError

# "1 2 3" repeats once the first token 3 is sampled: the n-gram draft is then "9 1 2".
PROMPT = [1, 2, 3, 9, 1, 2]


def make_loop(num_blocks=16, block_size=4, budget=32, max_len=64, **kw):
    return BatchLoop(
        BatchLoopConfig(
            num_blocks=num_blocks,
            block_size=block_size,
            max_num_batched_tokens=budget,
            max_num_seqs=8,
            max_model_len=max_len,
            **kw,
        )
    )


def test_config_kwargs_and_their_checks():
    config = BatchLoopConfig(draft_ngram_min=1, draft_ngram_max=6)
    assert (config.draft_ngram_min, config.draft_ngram_max) == (1, 6)
    assert (BatchLoopConfig().draft_ngram_min, BatchLoopConfig().draft_ngram_max) == (2, 4)
    with pytest.raises(InvalidArgumentError, match="draft_ngram_min"):
        make_loop(draft_ngram_min=0)
    with pytest.raises(InvalidArgumentError, match="draft_ngram_min"):
        make_loop(draft_ngram_min=3, draft_ngram_max=2)


def test_propose_ngram_draft():
    assert propose_ngram_draft([1, 2, 7, 1, 2, 8, 1, 2], 2, 2, 2).tolist() == [8, 1]  # latest
    tokens = np.array([0, 1, 2, 10, 1, 2, 20, 0, 1, 2], dtype=np.int64)
    assert propose_ngram_draft(tokens, 2, 3, 3).tolist() == [10, 1, 2]  # longest suffix first
    assert propose_ngram_draft(tokens, 2, 2, 3).tolist() == [20, 0, 1]
    out = propose_ngram_draft([1, 2, 3, 1, 2], 2, 2, 10)
    assert out.tolist() == [3, 1, 2] and out.dtype == np.int32  # capped at the end
    assert propose_ngram_draft([1, 2, 3, 4], 1, 4, 3).tolist() == []
    assert propose_ngram_draft([1, 2, 1, 2], 2, 2, 0).tolist() == []
    assert propose_ngram_draft([1, 2, 1, 2], 4, 5, 3).tolist() == []
    with pytest.raises(InvalidArgumentError, match="not a valid token id"):
        propose_ngram_draft([1, -2], 1, 2, 3)


def test_plan_views_commit_with_num_accepted_and_stats():
    loop = make_loop()
    a = loop.add_sequence(PROMPT, max_tokens=10, num_draft_tokens=3)
    b = loop.add_sequence([5, 6])
    loop.schedule(0.0)
    first = loop.commit([3, 7])
    assert first.tokens.tolist() == [3, 7]
    plan = loop.schedule(1.0)
    assert plan.input_ids.tolist() == [3, 9, 1, 2, 7]
    assert plan.positions.tolist() == [6, 7, 8, 9, 2]
    assert plan.slot_mapping.tolist() == [6, 7, 12, 13, 10]
    assert plan.seq_lens.tolist() == [10, 3]
    assert plan.kv_indices.tolist() == [0, 1, 3, 2]
    assert plan.kv_last_page_len.tolist() == [2, 3]
    assert plan.logits_indices.tolist() == [0, 1, 2, 3, 4]
    assert plan.sample_indptr.tolist() == [0, 4, 5]
    assert plan.draft_tokens.tolist() == [9, 1, 2]
    assert plan.sample_seq_ids.tolist() == [a, b]
    assert plan.sample_indptr.dtype == np.int32 and plan.draft_tokens.dtype == np.int32
    assert not plan.sample_indptr.flags.writeable and not plan.draft_tokens.flags.writeable
    assert loop.stats.num_draft_tokens == 3
    events = loop.commit(np.array([50, 8], dtype=np.int32), num_accepted=[2, 0])
    assert events.seq_ids.tolist() == [a, a, a, b]
    assert events.tokens.tolist() == [9, 1, 50, 8]
    assert events.finish_reasons.tolist() == [0, 0, 0, 0]
    assert loop.tokens(a) == [1, 2, 3, 9, 1, 2, 3, 9, 1, 50]
    assert loop.seq_info(a).num_computed_tokens == 9
    assert loop.stats.num_accepted_draft_tokens == 2
    plain = loop.schedule(2.0)  # nothing repeats: the draft-free plan
    assert plain.sample_indptr.tolist() == [0, 1, 2]
    assert plain.draft_tokens.tolist() == []
    assert plain.logits_indices.tolist() == [0, 1]
    with pytest.raises(InvalidArgumentError, match="stale"):
        _ = plan.draft_tokens


def test_explicit_drafts_and_set_num_draft_tokens():
    loop = make_loop()
    a = loop.add_sequence(PROMPT, num_draft_tokens=3)
    b = loop.add_sequence([5, 6])
    loop.schedule(0.0)
    loop.commit([3, 7])
    loop.set_drafts([a, b], [0, 2, 6], [77, 78, 5, 5, 5, 5])  # lists are accepted
    plan = loop.schedule(1.0)
    assert plan.draft_tokens.tolist() == [77, 78, 5, 5, 5, 5]
    assert plan.sample_indptr.tolist() == [0, 3, 8]
    loop.abandon_step()
    assert loop.schedule(1.0).draft_tokens.tolist() == [9, 1, 2]  # cleared: n-gram again
    loop.abandon_step()
    loop.set_num_draft_tokens(a, 1)
    loop.set_drafts(
        np.array([b], dtype=np.int64),
        np.array([0, 1], dtype=np.int32),
        np.array([6], dtype=np.int32),
    )
    plan = loop.schedule(1.0)
    assert plan.draft_tokens.tolist() == [9, 6]
    events = loop.commit([4, 8], num_accepted=np.array([1, 1], dtype=np.int32))
    assert events.seq_ids.tolist() == [a, a, b, b]
    assert events.tokens.tolist() == [9, 4, 6, 8]
    assert loop.stats.num_accepted_draft_tokens == 2
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        loop.set_num_draft_tokens(a, -1)
    with pytest.raises(UnknownSequenceError):
        loop.set_num_draft_tokens(b + 1, 1)
    with pytest.raises(InvalidArgumentError, match="num_draft_tokens"):
        loop.add_sequence([1], num_draft_tokens=-1)
    assert loop.num_waiting == 0


def test_bad_set_drafts_raises_and_changes_nothing():
    loop = make_loop()
    a = loop.add_sequence(PROMPT, num_draft_tokens=3)
    loop.schedule(0.0)
    loop.commit([3])
    loop.set_drafts([a], [0, 1], [77])
    with pytest.raises(UnknownSequenceError):
        loop.set_drafts([a, a + 1], [0, 1, 2], [5, 5])
    with pytest.raises(InvalidArgumentError, match="negative token id"):
        loop.set_drafts([a], [0, 2], [5, -5])
    with pytest.raises(InvalidArgumentError, match=r"indptr\[0\] must be 0"):
        loop.set_drafts([a], [1, 2], [5, 5])
    with pytest.raises(InvalidArgumentError, match="non-decreasing"):
        loop.set_drafts([a, a], [0, 2, 1], [5, 5])
    with pytest.raises(InvalidArgumentError, match="twice"):
        loop.set_drafts([a, a], [0, 1, 2], [5, 5])
    with pytest.raises(InvalidArgumentError, match="2 entries"):
        loop.set_drafts([a], [0], [5])
    with pytest.raises(InvalidArgumentError, match="past the 1 tokens"):
        loop.set_drafts([a], [0, 2], [5])
    with pytest.raises(InvalidArgumentError, match="one-dimensional"):
        loop.set_drafts([a], [[0, 1]], [5])
    plan = loop.schedule(1.0)
    assert plan.draft_tokens.tolist() == [77]  # the valid call's draft, untouched
    with pytest.raises(InvalidArgumentError, match="between schedule"):
        loop.set_drafts([a], [0, 1], [5])
    loop.abandon_step()
    assert loop.schedule(1.0).draft_tokens.tolist() == [9, 1, 2]


def test_bad_commit_keeps_the_step_in_flight():
    loop = make_loop()
    a = loop.add_sequence(PROMPT, num_draft_tokens=3)
    b = loop.add_sequence([5, 6])
    loop.schedule(0.0)
    loop.commit([3, 7])
    loop.schedule(1.0)  # a: 3 drafts, b: none
    with pytest.raises(InvalidArgumentError, match=r"num_accepted\[0\] = 4"):
        loop.commit([50, 8], num_accepted=[4, 0])
    with pytest.raises(InvalidArgumentError, match=r"num_accepted\[1\] = 1"):
        loop.commit([50, 8], num_accepted=[0, 1])
    with pytest.raises(InvalidArgumentError, match=r"num_accepted\[0\] = -1"):
        loop.commit([50, 8], num_accepted=[-1, 0])
    with pytest.raises(InvalidArgumentError, match="accepted-draft counts"):
        loop.commit([50, 8], num_accepted=[1])
    with pytest.raises(InvalidArgumentError, match="one-dimensional"):
        loop.commit([50, 8], num_accepted=[[1, 0]])
    with pytest.raises(InvalidArgumentError, match="integers"):
        loop.commit([50, 8], num_accepted=["x", "y"])
    assert loop.step_in_flight
    assert loop.tokens(a) == PROMPT + [3]
    assert loop.stats.num_accepted_draft_tokens == 0
    events = loop.commit([50, 8], num_accepted=[3, 0])
    assert events.seq_ids.tolist() == [a, a, a, a, b]
    assert events.tokens.tolist() == [9, 1, 2, 50, 8]


def test_stop_token_inside_accepted_drafts_and_max_tokens_cap():
    loop = make_loop()
    a = loop.add_sequence(PROMPT, stop_token_ids=[1], park_on_finish=True)
    loop.set_num_draft_tokens(a, 3)
    loop.schedule(0.0)
    loop.commit([3])
    assert loop.schedule(1.0).draft_tokens.tolist() == [9, 1, 2]
    events = loop.commit([60], num_accepted=[3])
    assert events.tokens.tolist() == [9, 1]
    assert events.finish_reasons.tolist() == [0, 1]
    info = loop.seq_info(a)
    assert (info.status, info.num_tokens, info.num_computed_tokens) == (SeqStatus.PARKED, 9, 8)
    b = loop.add_sequence(PROMPT, max_tokens=3, num_draft_tokens=3)
    loop.schedule(2.0)
    loop.commit([3])
    assert loop.schedule(3.0).draft_tokens.tolist() == [9]  # room for one draft only
    events = loop.commit([70], num_accepted=[1])
    assert events.tokens.tolist() == [9, 70]
    assert events.finish_reasons.tolist() == [0, 2]
    assert not loop.has_sequence(b)


def check_plan(plan, loop, kv, bs):
    """Every attended cached position holds its own prefix's KV; drafts follow the real tokens.
    Then "computes" the step: each planned slot gets the KV of its (draft-extended) prefix.
    Returns {seq_id: drafts} of this step's samplers."""
    qsl, indptr, indices = plan.query_start_loc, plan.kv_indptr, plan.kv_indices
    sample_indptr, drafts_flat = plan.sample_indptr.tolist(), plan.draft_tokens.tolist()
    samplers = {sid: k for k, sid in enumerate(plan.sample_seq_ids.tolist())}
    assert len(set(plan.slot_mapping.tolist())) == plan.num_tokens
    drafts_of = {}
    for i, sid in enumerate(plan.seq_ids.tolist()):
        tokens = loop.tokens(sid)
        start, kv_end = int(plan.num_computed_tokens[i]), int(plan.seq_lens[i])
        drafts = []
        if sid in samplers:
            k = samplers[sid]
            drafts = drafts_flat[sample_indptr[k] - k : sample_indptr[k + 1] - k - 1]
            assert kv_end - len(drafts) == len(tokens)
            last_real = qsl[i + 1] - 1 - len(drafts)
            rows = plan.logits_indices[sample_indptr[k] : sample_indptr[k + 1]].tolist()
            assert rows == list(range(last_real, qsl[i + 1]))
            drafts_of[sid] = drafts
        full = tokens + drafts
        table = indices[indptr[i] : indptr[i + 1]].tolist()
        assert len(table) == -(-kv_end // bs)
        assert kv_end - start == qsl[i + 1] - qsl[i]
        for pos in range(start):
            assert kv.get(table[pos // bs] * bs + pos % bs) == tuple(tokens[: pos + 1]), (sid, pos)
        for j, pos in enumerate(range(start, kv_end)):
            t = qsl[i] + j
            slot = table[pos // bs] * bs + pos % bs
            assert plan.positions[t] == pos and plan.input_ids[t] == full[pos]
            assert plan.slot_mapping[t] == slot
            kv[slot] = tuple(full[: pos + 1])
    assert len(drafts_flat) == sum(len(d) for d in drafts_of.values())
    return drafts_of


@pytest.mark.parametrize("seed", range(4))
def test_random_drafts_keep_kv_consistent(seed):
    """Small vocabulary (n-grams repeat), random explicit drafts and acceptance, parking and
    resuming, pin reclaim and preemption: cached KV must always be the sequence's own prefix,
    and every sequence ends with exactly the tokens committed for it."""
    rng = random.Random(seed)
    bs = rng.choice([2, 4])
    loop = BatchLoop(
        BatchLoopConfig(
            num_blocks=24,
            block_size=bs,
            max_num_seqs=5,
            max_num_batched_tokens=rng.choice([8, 16, 32]),
            max_model_len=40,
            hash_bits=rng.choice([64, 3]),
            draft_ngram_min=rng.choice([1, 2]),
        )
    )
    expected: dict[int, list[int]] = {}
    kv: dict[int, tuple] = {}
    now = 0.0
    for it in range(300):
        if it < 200 and rng.random() < 0.4:
            prompt = [rng.randrange(1, 6) for _ in range(rng.randint(2, 12))]
            sid = loop.add_sequence(
                prompt,
                max_tokens=rng.randint(1, 16),
                stop_token_ids=[0],
                priority=rng.choice([0.0, 1.0]),
                park_on_finish=rng.random() < 0.5,
                pin_ttl_s=rng.choice([0.5, 5.0]),
                num_draft_tokens=rng.randint(0, 4),
            )
            expected[sid] = list(prompt)
        for sid in list(expected):
            if loop.has_sequence(sid) and loop.seq_info(sid).status == SeqStatus.PARKED:
                if len(expected[sid]) + 3 < 36 and rng.random() < 0.5:
                    result = [rng.randrange(1, 6) for _ in range(rng.randint(1, 3))]
                    loop.resume(sid, result, max_tokens=rng.randint(1, 6))
                    expected[sid] += result
                else:
                    assert loop.tokens(sid) == expected[sid]
                    loop.free(sid)
        running = [s for s in loop.running_order() if rng.random() < 0.3]
        if running:
            lens = [rng.randint(0, 3) for _ in running]
            loop.set_drafts(
                running, np.cumsum([0] + lens), [rng.randrange(1, 6) for _ in range(sum(lens))]
            )
        now += 0.1
        plan = loop.schedule(now)
        drafts_of = check_plan(plan, loop, kv, bs)
        sample_ids = plan.sample_seq_ids.tolist()
        sampled = [rng.randrange(0, 12) for _ in sample_ids]
        accepted = [rng.randint(0, len(drafts_of[s])) for s in sample_ids]
        events = loop.commit(sampled, num_accepted=accepted)
        got: dict[int, list[int]] = {}
        last_reason: dict[int, int] = {}
        for sid, tok, reason in zip(
            events.seq_ids.tolist(),
            events.tokens.tolist(),
            events.finish_reasons.tolist(),
            strict=True,
        ):
            got.setdefault(sid, []).append(tok)
            last_reason[sid] = reason
        for sid, tok, a in zip(sample_ids, sampled, accepted, strict=True):
            want = drafts_of[sid][:a] + [tok]  # cut short only by a token that finished the turn
            assert got[sid] == want[: len(got[sid])]
            assert len(got[sid]) == len(want) or last_reason[sid] != 0
            expected[sid] += got[sid]
    for _ in range(500):  # drain: pins expire, everything waiting gets in and stops at 0
        if not loop.has_unfinished:
            break
        now += 1.0
        plan = loop.schedule(now)
        check_plan(plan, loop, kv, bs)
        events = loop.commit(np.zeros(len(plan.sample_seq_ids), dtype=np.int32))
        for sid, tok in zip(events.seq_ids.tolist(), events.tokens.tolist(), strict=True):
            expected[sid].append(tok)
    assert not loop.has_unfinished
    for sid in expected:
        if loop.has_sequence(sid):
            assert loop.tokens(sid) == expected[sid]
            loop.free(sid)
    assert loop.block_manager.num_free_blocks == 24
    stats = loop.stats
    assert 0 < stats.num_accepted_draft_tokens <= stats.num_draft_tokens
