"""Logit adjustments (engine/penalties.py): exact rows on handcrafted logits, typed errors, and
the engine's wiring on a real tiny model (bias, min_tokens, penalties, allowed_token_ids,
bad_words)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from paste.engine.penalties import LogitAdjustments, LogitBiasError, bad_word_ids
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from test_session_support import shared_tiny_folder, tiny_engine

ROW = [1.0, -1.0, 2.0, -2.0, 0.5]


def _apply(adj: LogitAdjustments, seq_ids: list[int], rows: list[list[float]]) -> list[list[float]]:
    logits = torch.tensor(rows)
    adj.apply(logits, seq_ids)
    return logits.tolist()


def test_logit_bias_is_added_to_its_row_only() -> None:
    adj = LogitAdjustments(5)
    adj.add(7, GenerationParams(logit_bias=((1, 2.5), (3, -100.0))), [0], [4])
    out = _apply(adj, [9, 7], [ROW, ROW])
    assert out[0] == ROW  # sequence 9 asked for nothing
    assert out[1] == [1.0, 1.5, 2.0, -102.0, 0.5]


def test_min_tokens_forbids_stop_tokens_until_reached() -> None:
    adj = LogitAdjustments(5)
    adj.add(3, GenerationParams(min_tokens=2, max_tokens=8), [0], [4, 1])
    inf = float("-inf")
    assert _apply(adj, [3], [ROW]) == [[1.0, inf, 2.0, -2.0, inf]]
    adj.accept([3], [2])
    assert _apply(adj, [3], [ROW]) == [[1.0, inf, 2.0, -2.0, inf]]
    adj.accept([3], [2])
    assert _apply(adj, [3], [ROW]) == [ROW]  # two tokens out: stops are allowed again


def test_repetition_penalty_scales_tokens_of_prompt_and_output() -> None:
    adj = LogitAdjustments(5)
    adj.add(1, GenerationParams(repetition_penalty=2.0), [2, 2], [4])
    assert _apply(adj, [1], [ROW]) == [[1.0, -1.0, 1.0, -2.0, 0.5]]  # prompt token 2
    adj.accept([1], [3])
    assert _apply(adj, [1], [ROW]) == [[1.0, -1.0, 1.0, -4.0, 0.5]]  # negative: times r


def test_presence_and_frequency_count_this_turns_output_only() -> None:
    adj = LogitAdjustments(5)
    params = GenerationParams(presence_penalty=0.25, frequency_penalty=0.5)
    adj.add(1, params, [0, 0, 0], [4])
    assert _apply(adj, [1], [ROW]) == [ROW]  # the prompt's tokens are not counted
    adj.accept([1], [1])
    adj.accept([1], [1])
    adj.accept([1], [4])
    assert _apply(adj, [1], [ROW]) == [[1.0, -1.0 - 1.25, 2.0, -2.0, 0.5 - 0.75]]


def test_rows_of_several_sequences_get_their_own_adjustments() -> None:
    adj = LogitAdjustments(5)
    adj.add(1, GenerationParams(frequency_penalty=1.0), [0], [4])
    adj.add(2, GenerationParams(repetition_penalty=0.5), [0], [4])
    adj.accept([1, 2], [2, 3])
    out = _apply(adj, [2, 5, 1], [ROW, ROW, ROW])
    assert out == [[2.0, -1.0, 2.0, -1.0, 0.5], ROW, [1.0, -1.0, 1.0, -2.0, 0.5]]
    adj.remove(1)
    assert _apply(adj, [1], [ROW]) == [ROW]


def test_requests_without_adjustments_are_not_tracked() -> None:
    adj = LogitAdjustments(5)
    adj.add(1, GenerationParams(temperature=0.7, top_p=0.9), [0], [4])
    adj.accept([1], [2])  # unknown sequences are ignored
    assert _apply(adj, [1], [ROW]) == [ROW]


def test_bias_outside_the_vocabulary_is_a_typed_error() -> None:
    adj = LogitAdjustments(5)
    adj.check(GenerationParams(logit_bias=((4, 1.0),)))
    with pytest.raises(LogitBiasError, match="token id 5 is outside the vocabulary"):
        adj.check(GenerationParams(logit_bias=((5, 1.0),)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"presence_penalty": 2.5}, "presence_penalty must be in"),
        ({"frequency_penalty": float("nan")}, "frequency_penalty must be in"),
        ({"repetition_penalty": 0.0}, "repetition_penalty must be > 0"),
        ({"repetition_penalty": float("inf")}, "repetition_penalty must be > 0"),
        ({"logit_bias": ((1, 101.0),)}, "logit_bias entries"),
        ({"logit_bias": ((1, 1.0), (1, 2.0))}, "names a token id twice"),
        ({"min_tokens": 9, "max_tokens": 8}, "min_tokens must be in"),
        ({"min_tokens": -1}, "min_tokens must be in"),
        ({"min_p": 1.5}, "min_p must be in"),
    ],
)
def test_bad_values_are_typed_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        GenerationParams(**kwargs)


def test_min_tokens_or_ignore_eos_with_a_grammar_is_refused() -> None:
    from paste.engine.grammar import GrammarSpec

    with pytest.raises(InvalidArgumentError, match="both a grammar and ignore_eos"):
        GenerationParams(ignore_eos=True, grammar=GrammarSpec())
    with pytest.raises(InvalidArgumentError, match="both a grammar and min_tokens"):
        GenerationParams(min_tokens=1, grammar=GrammarSpec())


def test_allowed_token_ids_leave_only_their_logits() -> None:
    adj = LogitAdjustments(5)
    adj.add(2, GenerationParams(allowed_token_ids=(2, 0)), [1], [4])
    inf = float("-inf")
    assert _apply(adj, [2, 8], [ROW, ROW]) == [[1.0, inf, 2.0, inf, inf], ROW]
    with pytest.raises(LogitBiasError, match=r"allowed_token_ids token id 5 is outside the "
                                             r"vocabulary \[0, 5\)"):
        adj.check(GenerationParams(allowed_token_ids=(1, 5)))


FAKE_IDS = {"ab": [1, 2], " ab": [3, 2], "c": [4], " c": [4], "zz": [9], " zz": [9]}


def test_bad_words_ban_a_words_last_token_after_its_others() -> None:
    assert bad_word_ids(("ab", " c "), FAKE_IDS.__getitem__) == [(1, 2), (3, 2), (4,)]
    adj = LogitAdjustments(5, encode=FAKE_IDS.__getitem__)
    adj.add(1, GenerationParams(bad_words=("ab", "c", "zz")), [1], [0])  # zz: not in vocab
    inf = float("-inf")
    assert _apply(adj, [1], [ROW]) == [[1.0, -1.0, 2.0, -2.0, inf]]  # one-token "c": always
    adj.accept([1], [1])
    assert _apply(adj, [1], [ROW]) == [[1.0, -1.0, inf, -2.0, inf]]  # after 1: not 2
    adj.accept([1], [0])
    assert _apply(adj, [1], [ROW]) == [[1.0, -1.0, 2.0, -2.0, inf]]
    adj.accept([1], [3])
    assert _apply(adj, [1], [ROW]) == [[1.0, -1.0, inf, -2.0, inf]]  # " ab" after 3
    with pytest.raises(InvalidArgumentError, match="bad_words need the model's tokenizer"):
        LogitAdjustments(5).check(GenerationParams(bad_words=("ab",)))


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(allowed_token_ids=(1, -1)), "allowed_token_ids must be non-negative token ids"),
    (dict(bad_words=("ok", " ")), "bad_words must be non-blank strings"),
])
def test_allowed_and_bad_word_values_are_checked(kwargs, message) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        GenerationParams(**kwargs)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory))
    yield eng
    eng.shutdown()


def test_engine_logit_bias_decides_greedy_tokens(engine) -> None:
    out = engine.generate([[1, 2, 3]], GenerationParams(
        max_tokens=5, temperature=0.0, ignore_eos=True, logit_bias=((7, 100.0),)))[0]
    assert out.token_ids == [7, 7, 7, 7, 7]


def test_engine_min_tokens_holds_back_end_of_turn(engine) -> None:
    eos = engine.core.eos_ids[0]
    params = GenerationParams(max_tokens=10, temperature=0.0, logit_bias=((eos, 100.0),))
    assert engine.generate([[1, 2, 3]], params)[0].token_ids == [eos]
    held = engine.generate([[1, 2, 3]], GenerationParams(
        max_tokens=10, temperature=0.0, logit_bias=((eos, 100.0),), min_tokens=4))[0]
    assert len(held.token_ids) == 5 and held.token_ids[-1] == eos
    assert eos not in held.token_ids[:4] and held.finish_reason == "stop"


def test_engine_repetition_penalty_moves_on_to_unused_tokens(engine) -> None:
    # Three tokens lifted ~50 above the rest: greedy repeats the best of them; a repetition
    # penalty of 1000 divides a used one's logit to ~0.05, so each is used once.
    lifted = ((11, 50.0), (12, 50.0), (13, 50.0))
    base = GenerationParams(max_tokens=3, temperature=0.0, ignore_eos=True, logit_bias=lifted)
    plain = engine.generate([[1, 2, 3]], base)[0]
    assert len(set(plain.token_ids)) == 1 and plain.token_ids[0] in {11, 12, 13}
    penalized = engine.generate([[1, 2, 3]], replace(base, repetition_penalty=1000.0))[0]
    assert sorted(penalized.token_ids) == [11, 12, 13]
    assert penalized.token_ids[0] == plain.token_ids[0]  # nothing is repeated at step one


def test_engine_repetition_penalty_counts_the_prompt(engine) -> None:
    lifted = ((11, 50.0), (12, 50.0))
    base = GenerationParams(max_tokens=2, temperature=0.0, ignore_eos=True, logit_bias=lifted,
                            repetition_penalty=1000.0)
    assert engine.generate([[1, 11, 3]], base)[0].token_ids[0] == 12
    assert engine.generate([[1, 12, 3]], base)[0].token_ids[0] == 11


def test_engine_refuses_a_bias_outside_its_vocabulary(engine) -> None:
    vocab = engine.core.runner.vocab_size
    with pytest.raises(LogitBiasError):
        engine.generate([[1, 2]], GenerationParams(max_tokens=2, logit_bias=((vocab, 1.0),)))


def test_engine_samples_only_allowed_token_ids(engine) -> None:
    params = GenerationParams(max_tokens=6, temperature=1.0, seed=3, ignore_eos=True,
                              logit_bias=((7, 100.0),), allowed_token_ids=(5, 9))
    out = engine.generate([[1, 2, 3]], params)[0]
    assert len(out.token_ids) == 6 and set(out.token_ids) <= {5, 9}
    vocab = engine.core.runner.vocab_size
    with pytest.raises(LogitBiasError):
        engine.generate([[1, 2]], GenerationParams(max_tokens=2, allowed_token_ids=(vocab,)))


def test_engine_never_writes_a_bad_word(engine) -> None:
    encode = engine.encode
    assert (encode("search"), encode(" search")) == ([298], [354])  # one token each
    lifted = ((298, 100.0), (354, 90.0))
    base = GenerationParams(max_tokens=4, temperature=0.0, ignore_eos=True, logit_bias=lifted)
    assert engine.generate([[1, 2, 3]], base)[0].token_ids == [298] * 4
    banned = engine.generate([[1, 2, 3]], replace(base, bad_words=("search",)))[0]
    assert not {298, 354} & set(banned.token_ids)
    # "Paris" is two tokens: its second is banned right after its first, not elsewhere
    assert (encode("Paris"), encode(" Paris")) == ([276, 264], [300])
    pair = GenerationParams(max_tokens=2, temperature=0.0, ignore_eos=True,
                            logit_bias=((276, 60.0), (264, 55.0)), repetition_penalty=1000.0)
    assert engine.generate([[1, 2, 3]], pair)[0].token_ids == [276, 264]
    cut = engine.generate([[1, 2, 3]], replace(pair, bad_words=("Paris",)))[0].token_ids
    assert cut[0] == 276 and cut[1] not in (264, 300)


def test_a_row_that_allows_no_token_is_found_with_its_constraints() -> None:
    adj = LogitAdjustments(5)
    adj.add(7, GenerationParams(allowed_token_ids=(1, 2)), [0], [4])
    adj.add(8, GenerationParams(allowed_token_ids=(4,), min_tokens=2), [0], [4])
    adj.add(9, GenerationParams(repetition_penalty=1.5), [0], [4])
    logits = torch.tensor([ROW, ROW, ROW, ROW])
    adj.apply(logits, [7, 8, 9, 6])
    assert adj.emptied(logits, [7, 8, 9, 6], set()).keys() == {8}  # 4 is its stop token
    logits[0, 1:3] = float("-inf")  # as a grammar forbidding 1 and 2 would
    found = adj.emptied(logits, [7, 8, 9, 6], {7})
    assert sorted(found) == [7, 8]
    assert str(found[7]) == ("no token is left to sample at output token 1: allowed_token_ids "
                             "and the response format or tool grammar exclude every token of "
                             "the vocabulary")
    assert found[7].param == "allowed_token_ids"
    assert str(found[8]).endswith("allowed_token_ids and min_tokens exclude every token of the "
                                  "vocabulary")


def test_engine_fails_a_request_whose_grammar_and_allowed_ids_leave_nothing(engine) -> None:
    """allowed_token_ids = {"{"} under a JSON grammar: the first token is "{", the second
    may not be "{" again, so the request fails with a typed error at output token 2 (not
    garbage) and its KV is freed; the engine serves the next request."""
    from paste.engine.grammar import GrammarSpec
    from paste.engine.penalties import NoTokenError

    brace = engine.encode("{")
    assert len(brace) == 1
    params = GenerationParams(max_tokens=8, temperature=0.0, allowed_token_ids=tuple(brace),
                              grammar=GrammarSpec())
    handle = engine.submit([1, 2, 3], params)
    seen = []
    with pytest.raises(NoTokenError, match="at output token 2: allowed_token_ids and the "
                                           "response format") as err:
        for out in handle:
            seen.append(list(out.token_ids))
    assert err.value.param == "allowed_token_ids"
    assert seen in ([], [brace])  # "{" may come out before the failure, nothing else
    assert handle.request.finished and handle.request.finish_reason == "abort"
    assert handle.request.output_ids == brace  # the unsampleable token was never appended
    loop = engine.core.loop
    assert engine.core.requests == {} and not loop.has_sequence(handle.request.seq_id)
    assert (loop.num_running, loop.num_waiting, loop.num_parked) == (0, 0, 0)
    eos = engine.core.eos_ids[0]
    stuck = GenerationParams(max_tokens=4, temperature=0.0, allowed_token_ids=(eos,),
                             min_tokens=2)
    with pytest.raises(NoTokenError, match="output token 1: allowed_token_ids and "
                                           "min_tokens exclude"):
        engine.generate([[1, 2, 3]], stuck)
    ok = engine.generate([[1, 2, 3]], GenerationParams(max_tokens=3, temperature=0.0,
                                                       ignore_eos=True))[0]
    assert len(ok.token_ids) == 3 and ok.finish_reason == "length"
