"""Predicted outputs (engine/prediction.py): where the output stands in its prediction, the
drafts that follow, and on a real tiny model the same greedy output with exactly the accepted
and rejected counts the mechanism implies."""

from __future__ import annotations

import pytest

from paste.engine.prediction import ALIGN_NGRAM, PREDICTION_DRAFT_TOKENS, Predictions
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from test_session_support import shared_tiny_folder, tiny_engine

PREDICTED = tuple(range(100, 130))  # 30 distinct tokens


def follow(size: int | None = 4, prediction: tuple[int, ...] = PREDICTED, **params):
    predictions = Predictions()
    predictions.add(7, GenerationParams(prediction=prediction, num_draft_tokens=size, **params))
    return predictions


def test_drafts_follow_the_output_while_it_copies():
    p = follow()
    assert p.drafts({7: []}) == {7: [100, 101, 102, 103]}  # the prediction's start
    assert p.drafts({7: [100, 101, 102]}) == {7: [103, 104, 105, 106]}
    assert p.drafts({7: list(range(100, 128))}) == {7: [128, 129]}  # its end
    assert p.drafts({7: list(range(100, 130))}) == {}  # all of it written
    assert p.drafts({7: [100]}, skip={7}) == {}  # drafted otherwise this step


def test_after_an_edit_the_drafts_wait_for_the_output_to_align_again():
    p = follow()
    p.drafts({7: [100, 101]})
    out = [100, 101, 5]  # departs at position 2
    assert p.drafts({7: out}) == {}
    out += [6, 104]  # still nowhere: (5, 6, 104) is not in the prediction
    assert p.drafts({7: out}) == {}
    out += [105, 106]  # (104, 105, 106) ends at position 107 - 100
    assert p.drafts({7: out}) == {7: [107, 108, 109, 110]}
    assert ALIGN_NGRAM == 3


def test_a_repeated_ngram_aligns_after_the_last_copied_position():
    prediction = (1, 2, 3, 50, 1, 2, 3, 60, 1, 2, 3, 70)
    p = follow(2, prediction)
    p.drafts({7: [1, 2, 3, 50, 1, 2, 3]})  # copied up to position 7
    assert p.drafts({7: [1, 2, 3, 50, 1, 2, 3, 9, 1, 2, 3]}) == {7: [70]}  # not 50 or 60 again
    q = follow(2, prediction)  # an output that moved text back aligns on the first
    q.drafts({7: [1, 2, 3, 50, 1, 2, 3, 60, 1, 2, 3]})
    assert q.drafts({7: [1, 2, 3, 50, 1, 2, 3, 60, 1, 2, 3, 8, 1, 2, 3]}) == {7: [50, 1]}


def test_verdicts_count_only_prediction_drafts():
    p = follow()
    assert p.counts(7) == (0, 0) and p.counts(8) is None
    p.drafts({7: []})
    p.record({7: (4, 3), 8: (2, 2)})  # 8: drafted from elsewhere
    assert p.counts(7) == (3, 1)
    p.record({7: (4, 4)})  # no prediction drafts this step any more: not counted
    assert p.counts(7) == (3, 1)
    p.drafts({7: [100]}, skip={7})
    p.record({7: (4, 4)})
    assert p.counts(7) == (3, 1)
    p.remove(7)
    assert p.counts(7) is None and not p


@pytest.mark.parametrize("params", [
    {"logprobs": 1}, {"presence_penalty": 0.5}, {"logit_bias": ((1, 2.0),)}])
def test_no_drafts_for_a_request_that_cannot_draft(params):
    assert not follow(None, **params)


def test_no_drafts_without_a_prediction_or_when_asked_for_none_else_the_default_size():
    assert not follow(0)  # num_draft_tokens 0: none
    assert not follow(None, ())
    assert follow(None).drafts({7: []}) == {7: list(PREDICTED[:PREDICTION_DRAFT_TOKENS])}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory))
    yield eng
    eng.shutdown()


def generate(engine, prediction=(), **params):
    return engine.generate([[4, 5, 6]], GenerationParams(
        max_tokens=40, ignore_eos=True, prediction=tuple(prediction), **params))[0]


def test_greedy_output_is_the_same_and_the_counts_follow_the_mechanism(engine):
    base = generate(engine)
    assert "accepted_prediction_tokens" not in base.metrics
    exact = generate(engine, base.token_ids)
    assert exact.token_ids == base.token_ids
    # token 0 comes from the prefill; then 4 steps of 8 accepted drafts + 1 token (37), and
    # a last step with room for 2 drafts (max_tokens 40): 34 accepted, none rejected
    assert (exact.metrics["accepted_prediction_tokens"],
            exact.metrics["rejected_prediction_tokens"]) == (34.0, 0.0)
    edited = list(base.token_ids[:10]) + [7, 8, 9] + list(base.token_ids[12:])
    out = generate(engine, edited)
    assert out.token_ids == base.token_ids
    # step 1: 8 accepted (tokens 1-8) + token 9; step 2 drafts [7, 8, 9, ...]: 8 rejected,
    # the output departs at token 10; tokens 11-14 decode alone until base[12:15] places it at
    # prediction position 16; then 8 + 8 + 8 + 6 (room) accepted
    assert (out.metrics["accepted_prediction_tokens"],
            out.metrics["rejected_prediction_tokens"]) == (30.0, 8.0)
    unrelated = generate(engine, [1, 2, 3] * 5)  # its first token is not the output's
    assert unrelated.token_ids == base.token_ids
    assert (unrelated.metrics["accepted_prediction_tokens"],
            unrelated.metrics["rejected_prediction_tokens"]) == (0.0, 0.0)


def test_a_request_that_cannot_draft_ignores_its_prediction(engine):
    base = generate(engine, logprobs=1)
    out = generate(engine, base.token_ids, logprobs=1)
    assert out.token_ids == base.token_ids
    assert "accepted_prediction_tokens" not in out.metrics


def test_bad_prediction_ids_are_a_typed_error_and_the_engine_serves_on(engine):
    with pytest.raises(InvalidArgumentError, match="prediction token id 100000 is outside "
                                                   "the vocabulary"):
        generate(engine, [1, 100000])
    assert len(generate(engine).token_ids) == 40
