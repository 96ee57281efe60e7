"""The engine's tool-call scanner and trie matcher on the random tiny model with teacher-forced
output: every event arrives on the RequestOutput of the exact step whose token caused it, with
the exact output token index; bad options are typed errors that queue nothing."""

from __future__ import annotations

import pytest

from paste.engine.call_events import CallEvent, CallEventKind, CallScan, ReasoningGate
from paste.engine.call_watch import CallWatch
from paste.engine.engine import Engine
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from tiny_model import build_tiny_model

START, DONE = CallEventKind.CALL_START, CallEventKind.CALL_COMPLETE
CONFIRMED, REFUTED = CallEventKind.CONFIRMED, CallEventKind.REFUTED
HERMES = CallScan("tag", start_tag="<tool_call>", end_tag="</tool_call>")
JSON = CallScan("json", code_fences=True)
CALL = '{"name": "search", "arguments": {"query": "weather in Paris"}}'
OTHER = '{"name": "search", "arguments": {"query": "weather in Rome"}}'


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-scan"), "llama")
    eng = Engine(str(folder), attention_backend="torch", block_size=4, num_blocks=256,
                 max_num_batched_tokens=64, num_threads=1)
    yield eng
    eng.shutdown()


def encode(engine, text: str) -> list[int]:
    return engine.tokenizer.encode(text, add_special_tokens=False)


def hermes_output(engine) -> list[int]:
    """Sure.\\n (5 tokens: 0-4) <tool_call> (5: 5-9) \\n+CALL (18: 10-27) \\n</tool_call>
    (6: 28-33): the call as a hermes model writes it, token boundaries fixed by construction."""
    ids = (encode(engine, "Sure.\n") + encode(engine, "<tool_call>") + encode(engine, "\n" + CALL)
           + encode(engine, "\n</tool_call>"))
    assert len(ids) == 34
    return ids


def run(engine, prompt: str, params: GenerationParams) -> list[tuple[int, list[CallEvent]]]:
    """(index of the step's token, that step's events) for every step with events."""
    steps = []
    for out in engine.stream(prompt, params):
        assert len(out.token_ids) >= 1
        if out.call_events:
            steps.append((len(out.token_ids) - 1, out.call_events))
    return steps


def test_call_complete_arrives_in_the_step_of_the_calls_last_token(engine):
    forced = tuple(hermes_output(engine))
    steps = run(engine, "hi", GenerationParams(forced_tokens=forced, call_scan=HERMES))
    assert steps == [(9, [CallEvent(START, 9)]), (33, [CallEvent(DONE, 33)])]


def test_candidate_equal_to_the_call_is_confirmed_at_its_last_token(engine):
    forced = tuple(hermes_output(engine))
    cands = ((7, tuple(encode(engine, "\n" + CALL))),)
    steps = run(engine, "hi", GenerationParams(forced_tokens=forced, call_scan=HERMES,
                                               call_candidates=cands))
    assert steps == [
        (9, [CallEvent(START, 9)]),
        (27, [CallEvent(CONFIRMED, 27, 7)]),
        (33, [CallEvent(DONE, 33)]),
    ]


def test_different_candidate_is_refuted_at_the_first_diverging_token(engine):
    forced = tuple(hermes_output(engine))
    other = encode(engine, "\n" + OTHER)
    call = encode(engine, "\n" + CALL)
    diverge = next(i for i, (a, b) in enumerate(zip(call, other, strict=False)) if a != b)
    assert diverge == 16  # ' Paris' vs ' Rome': output token 10 + 16
    steps = run(engine, "hi", GenerationParams(forced_tokens=forced, call_scan=HERMES,
                                               call_candidates=((3, tuple(other)),)))
    assert steps == [
        (9, [CallEvent(START, 9)]),
        (26, [CallEvent(REFUTED, 26)]),
        (33, [CallEvent(DONE, 33)]),
    ]


def test_right_and_wrong_candidates_together_confirm_the_right_one(engine):
    forced = tuple(hermes_output(engine))
    cands = ((3, tuple(encode(engine, "\n" + OTHER))), (4, tuple(encode(engine, "\n" + CALL))))
    steps = run(engine, "hi", GenerationParams(forced_tokens=forced, call_scan=HERMES,
                                               call_candidates=cands))
    assert [e for _, evs in steps for e in evs] == [
        CallEvent(START, 9), CallEvent(CONFIRMED, 27, 4), CallEvent(DONE, 33)]


def test_json_mode_matches_from_the_token_holding_the_brace(engine):
    call = encode(engine, CALL)
    assert len(call) == 17
    cands = ((1, tuple(call)), (2, tuple(call) + (call[0],)))
    params = GenerationParams(forced_tokens=tuple(call), call_scan=JSON, call_candidates=cands)
    assert run(engine, "hi", params) == [
        (0, [CallEvent(START, 0)]),
        (16, [CallEvent(DONE, 16), CallEvent(CONFIRMED, 16, 1)]),
    ]


def test_call_that_ends_before_every_candidate_is_refuted_at_its_last_token(engine):
    call = encode(engine, CALL)
    params = GenerationParams(forced_tokens=tuple(call), call_scan=JSON,
                              call_candidates=((5, tuple(call) + (call[0],)),))
    assert run(engine, "hi", params) == [
        (0, [CallEvent(START, 0)]),
        (16, [CallEvent(DONE, 16), CallEvent(REFUTED, 16)]),
    ]


def test_batched_requests_get_their_own_events_and_unwatched_ones_none(engine):
    forced = tuple(hermes_output(engine))
    cands = ((7, tuple(encode(engine, "\n" + CALL))),)
    watched = engine.submit("one", GenerationParams(forced_tokens=forced, call_scan=HERMES,
                                                    call_candidates=cands))
    other = engine.submit("two", GenerationParams(forced_tokens=forced, call_scan=HERMES))
    plain = engine.submit("three", GenerationParams(forced_tokens=forced))
    got = {name: [(len(o.token_ids) - 1, o.call_events) for o in h if o.call_events]
           for name, h in (("watched", watched), ("other", other), ("plain", plain))}
    assert got == {
        "watched": [(9, [CallEvent(START, 9)]), (27, [CallEvent(CONFIRMED, 27, 7)]),
                    (33, [CallEvent(DONE, 33)])],
        "other": [(9, [CallEvent(START, 9)]), (33, [CallEvent(DONE, 33)])],
        "plain": [],
    }
    assert engine.core.calls.matcher.num_sequences == 0  # finished requests left the matcher


def test_session_turns_restart_token_indices(engine):
    forced = tuple(hermes_output(engine))
    params = GenerationParams(forced_tokens=forced, call_scan=HERMES)
    first = engine.submit_turn("s1", engine.encode("hi"), params).result()
    convo = engine.encode("hi") + first.token_ids + engine.encode("ok")
    steps = [(len(o.token_ids) - 1, o.call_events)
             for o in engine.submit_turn("s1", convo, params) if o.call_events]
    assert steps == [(9, [CallEvent(START, 9)]), (33, [CallEvent(DONE, 33)])]
    engine.end_session("s1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(call_scan=CallScan("json")), None),
        (dict(call_candidates=((1, (2,)),)), "need a call_scan"),
        (dict(call_scan=JSON, call_candidates=((1, (2,)), (1, (3,)))), "distinct"),
        (dict(call_scan=JSON, call_candidates=((-1, (2,)),)), "distinct"),
        (dict(call_scan=JSON, call_candidates=((1, ()),)), "non-empty"),
        (dict(call_scan=JSON, call_candidates=((1, (-2,)),)), "non-negative"),
    ],
)
def test_generation_params_checks(kwargs, message):
    if message is None:
        GenerationParams(**kwargs)
        return
    with pytest.raises(InvalidArgumentError, match=message):
        GenerationParams(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(mode="regex"), "mode must be one of"),
        (dict(mode="tag", start_tag="<a>"), "needs a start_tag and an end_tag"),
        (dict(mode="json", end_tag="</a>"), "takes no tags"),
    ],
)
def test_call_scan_checks(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        CallScan(**kwargs)


class NoTokens:
    def encode(self, text, add_special_tokens=False):
        return []


def test_tag_without_tokens_is_refused_before_anything_is_queued(engine):
    with pytest.raises(InvalidArgumentError, match="has no tokens"):
        CallWatch(NoTokens(), 10).check(GenerationParams(call_scan=HERMES))
    own = engine.core.calls
    engine.core.calls = CallWatch(NoTokens(), 10)  # the engine is idle between tests
    try:
        handle = engine.submit("hi", GenerationParams(max_tokens=2, call_scan=HERMES))
        with pytest.raises(InvalidArgumentError, match="has no tokens"):
            handle.result()
        assert handle.request is None and not engine.core.requests
        assert not engine.core.has_unfinished()
    finally:
        engine.core.calls = own


def thinking_output(engine, drafted: str, opened: bool = True) -> tuple[list[int], int]:
    """<think> (if `opened`) + a hermes call drafted in the thinking + </think> + the answer:
    hermes_output. Returns the tokens and the answer's first output index."""
    think = (encode(engine, "<think>") if opened else []) + encode(engine, "Maybe ")
    think += encode(engine, "<tool_call>") + encode(engine, "\n" + drafted)
    think += encode(engine, "</think>")
    return think + hermes_output(engine), len(think)


def gate(engine, inside: bool = False) -> ReasoningGate:
    return ReasoningGate(tuple(encode(engine, "<think>")), tuple(encode(engine, "</think>")),
                         inside)


@pytest.mark.parametrize("opened_by_prompt", [False, True])
def test_a_call_drafted_while_thinking_neither_confirms_nor_refutes(engine, opened_by_prompt):
    """The thinking drafts OTHER: without the gate it would be REFUTED (withdrawing the
    staged job) and its scan events reported; with it only the answer's call is seen."""
    forced, at = thinking_output(engine, OTHER, opened=not opened_by_prompt)
    cands = ((7, tuple(encode(engine, "\n" + CALL))),)
    params = GenerationParams(forced_tokens=tuple(forced), call_scan=HERMES,
                              call_candidates=cands,
                              call_reasoning=gate(engine, inside=opened_by_prompt))
    assert run(engine, "hi", params) == [
        (at + 9, [CallEvent(START, at + 9)]),
        (at + 27, [CallEvent(CONFIRMED, at + 27, 7)]),
        (at + 33, [CallEvent(DONE, at + 33)]),
    ]
    ungated = GenerationParams(forced_tokens=tuple(forced), call_scan=HERMES,
                               call_candidates=cands)
    assert [e.kind for _, evs in run(engine, "hi", ungated) for e in evs][:2] == [START, REFUTED]


def test_an_answer_without_thinking_is_scanned_from_its_first_token(engine):
    blank = encode(engine, "\n")
    forced = tuple(blank + hermes_output(engine))
    params = GenerationParams(forced_tokens=forced, call_scan=HERMES,
                              call_reasoning=gate(engine))
    assert run(engine, "hi", params) == [(10, [CallEvent(START, 10)]), (34, [CallEvent(DONE, 34)])]
    json_call = encode(engine, CALL)  # json mode: the answer's first token holds the brace
    params = GenerationParams(forced_tokens=tuple(json_call), call_scan=JSON,
                              call_reasoning=gate(engine))
    assert run(engine, "hi", params) == [(0, [CallEvent(START, 0)]),
                                         (16, [CallEvent(DONE, 16)])]


def test_a_thinking_that_never_closes_is_never_scanned(engine):
    forced, at = thinking_output(engine, CALL)
    params = GenerationParams(forced_tokens=tuple(forced[:at - 1]), call_scan=HERMES,
                              call_reasoning=gate(engine))
    assert run(engine, "hi", params) == []


def test_reasoning_gate_checks():
    with pytest.raises(InvalidArgumentError, match="call_reasoning needs a call_scan"):
        GenerationParams(call_reasoning=ReasoningGate((1,), (2,)))
    for bad in (dict(open_ids=(), close_ids=(2,)), dict(open_ids=(1,), close_ids=(-2,))):
        with pytest.raises(InvalidArgumentError, match="must be non-empty, non-negative"):
            ReasoningGate(**bad)
