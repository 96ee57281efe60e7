"""Randomised end-to-end check of BatchLoop + BlockManager against a model of the KV cache.

A fake KV cache records, for every slot written, the exact token prefix whose KV it holds.
Whenever a sequence is scheduled, every position it attends to (through its CSR block table)
must hold the KV of its own prefix; so a wrong prefix-cache hit, a block freed while in use, a
bad slot mapping, a lost token after preemption or a reclaimed pin would all be caught. Every
sequence must finish with exactly its prompt plus the tokens sampled for it.
"""

import random

import numpy as np
import pytest

from paste.core import BatchLoop, BatchLoopConfig, SeqStatus


def check_plan(plan, loop, kv, bs):
    qsl, indptr = plan.query_start_loc, plan.kv_indptr
    indices, slots = plan.kv_indices, plan.slot_mapping
    assert len(set(slots.tolist())) == len(slots), "two tokens write one slot in a step"
    for i, sid in enumerate(plan.seq_ids.tolist()):
        tokens = loop.tokens(sid)
        start, end = int(plan.num_computed_tokens[i]), int(plan.seq_lens[i])
        assert end - start == qsl[i + 1] - qsl[i]
        table = indices[indptr[i]:indptr[i + 1]].tolist()
        assert len(table) == -(-end // bs)
        assert plan.kv_last_page_len[i] == end - (len(table) - 1) * bs
        for pos in range(start):  # cached KV must be this sequence's own prefix
            slot = table[pos // bs] * bs + pos % bs
            assert kv.get(slot) == tuple(tokens[: pos + 1]), (sid, pos)
        for j, pos in enumerate(range(start, end)):
            t = qsl[i] + j
            assert plan.positions[t] == pos and plan.input_ids[t] == tokens[pos]
            assert slots[t] == table[pos // bs] * bs + pos % bs
    # The model "computes": write every scheduled token's KV.
    for i, sid in enumerate(plan.seq_ids.tolist()):
        tokens = loop.tokens(sid)
        for j in range(qsl[i], qsl[i + 1]):
            kv[int(slots[j])] = tuple(tokens[: int(plan.positions[j]) + 1])


@pytest.mark.parametrize("seed", range(6))
def test_random_workload_keeps_kv_consistent_and_loses_nothing(seed):
    rng = random.Random(seed)
    bs = rng.choice([2, 4])
    loop = BatchLoop(BatchLoopConfig(num_blocks=24, block_size=bs, max_num_seqs=5,
                                     max_num_batched_tokens=rng.choice([8, 16, 32]),
                                     max_model_len=40, hash_bits=rng.choice([64, 3])))
    shared = [rng.randrange(50) for _ in range(12)]
    expected: dict[int, list[int]] = {}
    turns_left: dict[int, int] = {}
    kv: dict[int, tuple] = {}
    done = 0
    now = 0.0
    for it in range(400):
        if it < 300 and rng.random() < 0.25:
            prompt = shared[: rng.randint(0, 12)] + [rng.randrange(50) for _ in range(rng.randint(1, 6))]
            sid = loop.add_sequence(prompt, max_tokens=rng.randint(1, 4), stop_token_ids=[0],
                                    priority=rng.choice([0.0, 1.0, 2.0]), park_on_finish=True,
                                    pin_ttl_s=rng.choice([0.5, 5.0]))
            expected[sid] = list(prompt)
            turns_left[sid] = rng.randint(0, 2)
        for sid in list(expected):  # parked sessions get a tool result, or end
            if loop.has_sequence(sid) and loop.seq_info(sid).status == SeqStatus.PARKED:
                if turns_left[sid] > 0 and len(expected[sid]) + 4 < 36:
                    turns_left[sid] -= 1
                    result = [rng.randrange(1, 50) for _ in range(rng.randint(1, 3))]
                    loop.resume(sid, result, max_tokens=rng.randint(1, 3), priority=rng.random())
                    expected[sid] += result
                elif rng.random() < 0.5:
                    assert loop.tokens(sid) == expected[sid]
                    loop.free(sid)
                    done += 1
        now += 0.1
        plan = loop.schedule(now)
        check_plan(plan, loop, kv, bs)
        sampled = [rng.randrange(0, 50) for _ in plan.sample_seq_ids]
        events = loop.commit(np.array(sampled, dtype=np.int32))
        for sid, tok in zip(events.seq_ids.tolist(), events.tokens.tolist(), strict=True):
            expected[sid].append(tok)
        bm = loop.block_manager
        assert bm.num_free_blocks + bm.num_used_blocks == 24
    # Drain: everything parked gets freed, everything running finishes.
    for _ in range(500):
        if not loop.has_unfinished:
            break
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
            done += 1
    assert done == len(expected)
    assert loop.block_manager.num_free_blocks == 24
    assert loop.block_manager.num_pinned_sequences == 0
