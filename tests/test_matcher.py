"""TrieMatcher through the bindings: one advance() per step over flat numpy arrays, with the
exact status, confirmed candidate and matched length per sequence; candidates added and removed
while decoding, rollback and reset, and typed errors that change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from paste.core import MatchStatus, TrieMatcher
from paste.errors import InvalidArgumentError, UnknownSequenceError

P, C, R = int(MatchStatus.PENDING), int(MatchStatus.CONFIRMED), int(MatchStatus.REFUTED)


def advance(m: TrieMatcher, steps: dict[int, list[int]]) -> list[tuple[int, int, int]]:
    seq_ids = np.array(list(steps), dtype=np.int64)
    offsets = np.cumsum([0] + [len(t) for t in steps.values()]).astype(np.int32)
    tokens = np.array([t for toks in steps.values() for t in toks], dtype=np.int32)
    status, cands, matched = m.advance(seq_ids, offsets, tokens)
    assert status.dtype == np.int8 and cands.dtype == np.int64 and matched.dtype == np.int32
    return list(zip(status.tolist(), cands.tolist(), matched.tolist(), strict=True))


def test_batch_step_reports_each_sequence():
    m = TrieMatcher()
    for seq in (1, 2, 3):
        m.add_sequence(seq)
    m.add_candidate(1, 7, [5, 9, 2])
    m.add_candidate(1, 8, [5, 9, 4])
    m.add_candidate(2, 7, np.array([5, 9, 2]))
    m.add_candidate(3, 1, [6])
    assert advance(m, {1: [5], 2: [5, 9], 3: [6]}) == [(P, -1, 1), (P, -1, 2), (C, 1, 1)]
    assert advance(m, {1: [9, 4], 2: [4]}) == [(C, 8, 3), (R, -1, 2)]
    # Confirmation is sticky until a reset; later tokens are only recorded.
    assert advance(m, {1: [11]}) == [(C, 8, 3)]
    state = m.state(1)
    assert (state.status, state.candidate_id, state.num_matched, state.num_decoded) == (
        MatchStatus.CONFIRMED,
        8,
        3,
        4,
    )


def test_candidates_added_and_removed_while_decoding():
    m = TrieMatcher()
    m.add_sequence(1)
    m.add_candidate(1, 1, [1, 2, 3])
    assert advance(m, {1: [1, 5]}) == [(R, -1, 1)]
    m.add_candidate(1, 2, [1, 5, 6])  # late prediction catches up with the decoded tokens
    assert m.state(1).status == MatchStatus.PENDING
    assert m.remove_candidate(1, 2)
    assert not m.remove_candidate(1, 2)
    assert m.state(1).status == MatchStatus.REFUTED and m.state(1).num_matched == 1
    assert m.num_candidates(1) == 1
    m.add_candidate(1, 2, [1, 5, 6])
    assert advance(m, {1: [6]}) == [(C, 2, 3)]


def test_rollback_and_reset():
    m = TrieMatcher()
    m.add_sequence(4)
    m.add_candidate(4, 1, [1, 2, 3])
    m.add_candidate(4, 2, [1, 2, 4])
    assert advance(m, {4: [1, 2, 3]}) == [(C, 1, 3)]
    m.rollback(4, 1)
    assert advance(m, {4: [4]}) == [(C, 2, 3)]
    m.reset(4)
    assert advance(m, {4: [9]}) == [(R, -1, 0)]
    m.rollback(4, 1)
    assert advance(m, {4: [1]}) == [(P, -1, 1)]
    with pytest.raises(InvalidArgumentError):
        m.rollback(4, 5)


def test_errors_leave_state_unchanged():
    m = TrieMatcher()
    m.add_sequence(1)
    m.add_candidate(1, 1, [1, 2])
    with pytest.raises(UnknownSequenceError):
        advance(m, {1: [1], 9: [1]})
    assert m.state(1).num_decoded == 0
    with pytest.raises(InvalidArgumentError):
        m.add_candidate(1, 1, [3])
    with pytest.raises(InvalidArgumentError):
        m.add_candidate(1, 2, [])
    with pytest.raises(InvalidArgumentError):
        m.add_sequence(1)
    with pytest.raises(InvalidArgumentError, match="token_offsets"):
        m.advance(np.array([1]), np.array([0]), np.array([1]))
    with pytest.raises(InvalidArgumentError, match="past"):
        m.advance(np.array([1]), np.array([0, 3]), np.array([1]))
    assert m.state(1).num_decoded == 0
    m.remove_sequence(1)
    assert not m.has_sequence(1) and m.num_sequences == 0
