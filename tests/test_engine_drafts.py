"""Speculative decoding (engine/drafts.py): verification of draft rows, and the engine with
prompt-lookup drafts on a random tiny model. Greedy outputs must be exactly those of plain
decoding; sampled outputs must keep the request's distribution."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from paste.engine.call_events import CallEvent, CallEventKind, CallScan
from paste.engine.drafts import can_draft, verify
from paste.engine.grammar import GrammarSpec
from paste.engine.request import GenerationParams
from paste.engine.sampler import Sampler, SamplingParams
from paste.errors import InvalidArgumentError
from tiny_model import build_tiny_model, make_tiny_engine

GREEDY = SamplingParams(temperature=0.0)


def rows(*argmaxes: int, vocab: int = 10) -> torch.Tensor:
    """Logits rows whose argmax is each given token."""
    out = torch.zeros(len(argmaxes), vocab)
    for i, tok in enumerate(argmaxes):
        out[i, tok] = 5.0
    return out


def test_greedy_accepts_the_drafts_equal_to_their_rows_argmax():
    sampler = Sampler(seed=0)
    st = sampler.new_state(GREEDY)
    # sampler 0: rows 0-2 (drafts 5, 9): 5 matches row 0, 9 != row 1's 7 -> 1 accepted, 7
    # sampler 1: rows 3-5 (drafts 4, 4): both match -> 2 accepted, row 5's argmax 8
    # sampler 2: row 6, no drafts -> its argmax 3
    logits = rows(5, 7, 2, 4, 4, 8, 3)
    tokens, accepted = verify(sampler, logits, np.array([0, 3, 6, 7]),
                              np.array([5, 9, 4, 4]), [st, st, st])
    assert accepted == [1, 2, 0]
    assert tokens.tolist() == [7, 8, 3]


def test_greedy_first_draft_rejected_gives_the_plain_token():
    sampler = Sampler(seed=0)
    st = sampler.new_state(GREEDY)
    tokens, accepted = verify(sampler, rows(6, 1, 1), np.array([0, 3]), np.array([1, 1]), [st])
    assert (accepted, tokens.tolist()) == ([0], [6])


def two_rows(p0: list[float], p1: list[float]) -> torch.Tensor:
    return torch.log(torch.tensor([p0, p1]))


def test_random_drafts_keep_the_distribution_of_each_emitted_token():
    """Draft token 1 of the first row (p = 0.3): the first emitted token must follow p0 and,
    when the draft was accepted, the next one p1 (seeded, so the counts are fixed)."""
    p0, p1 = [0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]
    sampler = Sampler(seed=1)
    st = sampler.new_state(SamplingParams(temperature=1.0))
    first = np.zeros(4)
    second = np.zeros(4)
    n = 20000
    for _ in range(n):
        tokens, accepted = verify(sampler, two_rows(p0, p1), np.array([0, 2]), np.array([1]),
                                  [st])
        if accepted[0]:
            first[1] += 1
            second[int(tokens[0])] += 1
        else:
            assert int(tokens[0]) != 1  # a rejected draft's token is never drawn instead
            first[int(tokens[0])] += 1
    assert np.abs(first / n - p0).max() < 0.015
    assert abs(second.sum() / n - 0.3) < 0.015  # accepted with probability p0[1]
    assert np.abs(second / second.sum() - p1).max() < 0.025


def test_random_draft_outside_min_p_is_always_rejected_and_seeds_reproduce():
    p = [0.7, 0.25, 0.04, 0.01]
    params = SamplingParams(temperature=1.0, min_p=0.1, seed=7)  # drops tokens 2 and 3
    runs = []
    for _ in range(2):
        sampler = Sampler(seed=None)
        st = sampler.new_state(params)
        got = [verify(sampler, two_rows(p, p), np.array([0, 2]), np.array([3]), [st])
               for _ in range(50)]
        assert all(acc == [0] and int(tok[0]) in (0, 1) for tok, acc in got)
        runs.append([int(tok[0]) for tok, _ in got])
    assert runs[0] == runs[1]  # the request's own generator decides


def test_which_requests_may_draft():
    assert can_draft(GenerationParams())
    assert can_draft(GenerationParams(temperature=0.8, top_p=0.9, stop=("\n",)))
    assert not can_draft(GenerationParams(logprobs=2))
    assert can_draft(GenerationParams(forced_tokens=(1, 2)))
    assert not can_draft(GenerationParams(presence_penalty=0.5))
    assert not can_draft(GenerationParams(logit_bias=((3, 1.0),)))
    assert can_draft(GenerationParams(grammar=GrammarSpec(json_schema='{"type": "object"}')))


# --- the engine -----------------------------------------------------------------------------

PROMPTS = ["one two three one two three one two three one two", "def add(a, b):",
           "a b c d a b c d a b c d", "tool results: 42 42 42 42"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")


@pytest.fixture(scope="module")
def plain(tiny_folder):
    eng = make_tiny_engine(tiny_folder)
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def drafting(tiny_folder):
    # every proposed draft verified: these tests are about the drafts' mechanics (the cuts of
    # adaptive_drafts are in test_engine_adaptive_drafts.py)
    eng = make_tiny_engine(tiny_folder, num_draft_tokens=4, draft_ngram_min=1, adaptive_drafts=False)
    yield eng
    eng.shutdown()


def stats(engine):
    s = engine.core.loop.stats
    return s.num_draft_tokens, s.num_accepted_draft_tokens


def test_greedy_with_drafts_writes_exactly_the_plain_output_in_fewer_steps(plain, drafting):
    ids = [plain.encode(p) for p in PROMPTS]
    params = GenerationParams(max_tokens=40, ignore_eos=True)
    steps0 = plain.core.num_steps
    want = plain.generate(ids, params)
    plain_steps = plain.core.num_steps - steps0
    drafted0, accepted0 = stats(drafting)
    steps0 = drafting.core.num_steps
    got = drafting.generate(ids, params)
    assert [o.token_ids for o in got] == [o.token_ids for o in want]
    assert [o.text for o in got] == [o.text for o in want]
    assert all(o.finish_reason == "length" and len(o.token_ids) == 40 for o in got)
    drafted, accepted = stats(drafting)
    assert drafted > drafted0 and accepted > accepted0
    assert drafting.core.num_steps - steps0 < plain_steps


def test_each_request_alone_matches_too(plain, drafting):
    for prompt in PROMPTS:
        ids = plain.encode(prompt)
        params = GenerationParams(max_tokens=23, ignore_eos=True)
        want = plain.generate([ids], params)[0]
        assert drafting.generate([ids], params)[0].token_ids == want.token_ids


def test_stop_string_inside_accepted_drafts_cuts_there(plain, drafting):
    ids = plain.encode(PROMPTS[2])
    full = plain.generate([ids], GenerationParams(max_tokens=40, ignore_eos=True))[0]
    stop = full.text[len(full.text) * 2 // 3:][:3]
    assert stop.strip(), full.text
    params = GenerationParams(max_tokens=40, ignore_eos=True, stop=(stop,))
    want = plain.generate([ids], params)[0]
    got = drafting.generate([ids], params)[0]
    assert (got.text, got.finish_reason) == (want.text, "stop")
    assert stop not in got.text
    # the engine goes on serving
    again = drafting.generate([ids], GenerationParams(max_tokens=5, ignore_eos=True))[0]
    assert again.token_ids == full.token_ids[:5]


def test_stop_token_inside_accepted_drafts_ends_the_turn_there(plain, drafting):
    ids = plain.encode(PROMPTS[0])
    full = plain.generate([ids], GenerationParams(max_tokens=30, ignore_eos=True))[0]
    stop_tok = full.token_ids[20]
    params = GenerationParams(max_tokens=30, ignore_eos=True, stop_token_ids=(stop_tok,))
    want = plain.generate([ids], params)[0]
    got = drafting.generate([ids], params)[0]
    assert got.token_ids == want.token_ids
    assert got.token_ids[-1] == stop_tok and stop_tok not in got.token_ids[:-1]
    assert got.finish_reason == "stop"


def test_sessions_continue_on_a_sequence_that_drafted(plain, drafting):
    ids = plain.encode(PROMPTS[3])
    params = GenerationParams(max_tokens=12, ignore_eos=True)
    outs = []
    for eng in (plain, drafting):
        first = eng.submit_turn("s", ids, params).result()
        convo = ids + first.token_ids + eng.encode(" next 42 42")
        second = eng.submit_turn("s", convo, params).result()
        outs.append((first.token_ids, second.token_ids, second.num_cached_tokens))
        eng.end_session("s")
    assert outs[1][:2] == outs[0][:2]
    assert outs[1][2] == outs[0][2] > len(ids)  # the parked KV was reused


def test_seeded_sampling_with_drafts_is_reproducible_and_bounded(drafting):
    ids = [drafting.encode(p) for p in PROMPTS]
    params = GenerationParams(max_tokens=25, temperature=0.7, seed=3, ignore_eos=True)
    a = drafting.generate(ids, params)
    b = drafting.generate(ids, params)
    assert [o.token_ids for o in a] == [o.token_ids for o in b]
    assert all(len(o.token_ids) == 25 and o.finish_reason == "length" for o in a)


def test_requests_that_cannot_draft_get_none(drafting):
    ids = drafting.encode(PROMPTS[0])
    before = stats(drafting)
    for params in (GenerationParams(max_tokens=20, ignore_eos=True, logprobs=1),
                   GenerationParams(max_tokens=20, ignore_eos=True, repetition_penalty=1.1)):
        out = drafting.generate([ids], params)[0]
        assert len(out.token_ids) == 20
    assert stats(drafting) == before


def test_logprobs_request_beside_a_drafting_one_keeps_its_own_rows(plain, drafting):
    ids = [plain.encode(PROMPTS[0]), plain.encode(PROMPTS[2])]
    params = [GenerationParams(max_tokens=16, ignore_eos=True),
              GenerationParams(max_tokens=16, ignore_eos=True, logprobs=2)]
    want = [plain.generate([i], p)[0] for i, p in zip(ids, params, strict=True)]
    reqs = [drafting.submit(i, p) for i, p in zip(ids, params, strict=True)]
    got = [r.result() for r in reqs]
    assert [o.token_ids for o in got] == [o.token_ids for o in want]
    assert [lp.token_id for lp in got[1].logprobs] == got[1].token_ids
    # Equal up to summation order: each engine times its own matmul orientations
    # (tuned_linear.py), so rounding to fixed decimals could split a value at a boundary.
    assert [lp.logprob for lp in got[1].logprobs] == pytest.approx(
        [lp.logprob for lp in want[1].logprobs], abs=2e-4)


SCHEMA = {"type": "object",
          "properties": {"ok": {"type": "boolean"}, "unit": {"enum": ["c", "f"]},
                         "n": {"enum": [1, 2, 3]}},
          "required": ["ok", "unit", "n"]}


def test_grammar_requests_draft_under_their_grammar_and_match_plain(plain, drafting):
    """Drafts copied from a prompt full of schema objects: every row is masked as if the
    drafts before it were accepted, so greedy output equals plain decoding's, JSON of the
    schema; a draft the grammar refuses is rejected."""
    obj = '{"ok": true, "unit": "c", "n": 2}'
    ids = plain.encode(" ".join([obj] * 4) + " ")
    spec = GrammarSpec(json.dumps(SCHEMA))
    before = stats(drafting)
    for params in (GenerationParams(max_tokens=60, grammar=spec),
                   GenerationParams(max_tokens=60, grammar=spec, temperature=1.0, seed=5)):
        got = drafting.generate([ids], params)[0]
        value = json.loads(got.text)
        assert sorted(value) == ["n", "ok", "unit"] and value["unit"] in ("c", "f")
        if params.temperature == 0.0:
            assert got.token_ids == plain.generate([ids], params)[0].token_ids
    assert stats(drafting)[0] > before[0]


CALL_SCHEMA = {"type": "object", "required": ["name", "arguments"],
               "properties": {"name": {"const": "search"},
                              "arguments": {"type": "object", "required": ["query"],
                                            "properties": {"query": {"const": "weather Paris"}}}}}


def test_a_predicted_call_is_drafted_while_the_model_writes_it(plain, drafting):
    """The call's tokens after the one that opens it come from the matching candidate: far
    fewer steps, the same output, and the candidate CONFIRMED at the same token."""
    params = GenerationParams(max_tokens=60, grammar=GrammarSpec(json.dumps(CALL_SCHEMA)),
                              call_scan=CallScan("json"))
    ids = plain.encode("hi")
    steps0 = plain.core.num_steps
    want = [o for o in plain.stream(ids, params)]
    plain_steps = plain.core.num_steps - steps0
    events = [e for o in want for e in o.call_events]
    start = next(e.token_index for e in events if e.kind is CallEventKind.CALL_START)
    end = next(e.token_index for e in events if e.kind is CallEventKind.CALL_COMPLETE)
    call = tuple(want[-1].token_ids[start : end + 1])
    assert len(call) > 10
    with_call = GenerationParams(max_tokens=60, grammar=params.grammar,
                                 call_scan=params.call_scan, call_candidates=((3, call),))
    before = stats(drafting)
    steps0 = drafting.core.num_steps
    got = [o for o in drafting.stream(ids, with_call)]
    assert got[-1].token_ids == want[-1].token_ids
    got_events = [e for o in got for e in o.call_events]
    assert CallEvent(CallEventKind.CONFIRMED, end, 3) in got_events
    accepted = stats(drafting)[1] - before[1]
    # after its first token, a step commits up to 4 drafts of the call and one token more
    assert accepted >= (len(call) - 1) * 4 // 5 - 1
    assert drafting.core.num_steps - steps0 <= plain_steps - accepted


def test_a_request_sets_its_own_number_of_drafts(plain, drafting):
    ids = plain.encode(PROMPTS[2])
    before = stats(drafting)
    off = drafting.generate([ids], GenerationParams(max_tokens=40, ignore_eos=True,
                                                    num_draft_tokens=0))[0]
    assert stats(drafting) == before
    before = stats(plain)
    on = plain.generate([ids], GenerationParams(max_tokens=40, ignore_eos=True,
                                                num_draft_tokens=3))[0]
    assert on.token_ids == off.token_ids
    assert stats(plain)[0] > before[0]
    for bad in (-1, 65):
        with pytest.raises(InvalidArgumentError, match="num_draft_tokens"):
            GenerationParams(num_draft_tokens=bad)


def test_a_forced_output_accepts_the_drafts_it_continues_with(plain, drafting):
    """Teacher forcing (trace replay) with drafts: the output is the forced one, and a draft
    counts as accepted exactly when the forced output goes on with it (prompt lookup finds
    the repeated phrase)."""
    ids = plain.encode("the order id is A1B2C3 .")
    forced = tuple(plain.encode(" Cancel the order id A1B2C3 now; the order id A1B2C3 is"))
    params = GenerationParams(forced_tokens=forced)
    before = stats(drafting)
    steps0 = drafting.core.num_steps
    got = drafting.generate([ids], params)[0]
    assert tuple(got.token_ids) == forced and got.finish_reason == "length"
    drafted, accepted = (a - b for a, b in zip(stats(drafting), before, strict=True))
    assert accepted > 0 and drafted > accepted
    assert drafting.core.num_steps - steps0 == len(forced) - accepted


def test_drafts_under_a_tiny_kv_pool_with_preemption_keep_outputs(tiny_folder, plain):
    """Drafts take only free blocks and budget left by real tokens; with sequences preempted
    and recomputed the greedy outputs stay those of plain decoding."""
    ids = [plain.encode(p) for p in PROMPTS]
    params = GenerationParams(max_tokens=40, ignore_eos=True)
    expected = [o.token_ids for o in plain.generate(ids, params)]
    small = make_tiny_engine(tiny_folder, num_draft_tokens=4, draft_ngram_min=1, num_blocks=26,
                        max_num_batched_tokens=32, max_model_len=96, adaptive_drafts=False)
    try:
        assert [o.token_ids for o in small.generate(ids, params)] == expected
        stats_ = small.core.loop.stats
        assert stats_.num_preemptions > 0 and stats_.num_accepted_draft_tokens > 0
    finally:
        small.shutdown()
