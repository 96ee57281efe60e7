"""A native session of a reasoning model hands the engine its thinking tags as token ids
(GenerationParams.call_reasoning) whenever the engine watches the turn for calls, so the trie
never sees a call drafted while thinking (engine/call_watch.py; the gate itself is tested in
test_engine_scanner.py); inside the thinking from the start when the prompt opened it."""

from __future__ import annotations

import pytest

from paste.engine.call_events import CallScan, ReasoningGate
from paste.engine.request import GenerationParams
from paste.parsing.reasoning import ReasoningTags
from paste.session import open_session
from test_server_support import FakeScriptedEngine
from test_session_support import add_registry, shared_tiny_folder, tiny_engine

SCAN = CallScan("json")

@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = FakeScriptedEngine(tiny_engine(shared_tiny_folder(tmp_path_factory)))
    yield eng
    eng.shutdown()


def turn_params(engine, tags, params):
    session = open_session(engine, tools=add_registry(), max_turns=1, reasoning=tags,
                           turn_params=params)
    session.run("Add 2 and 3.")
    session.close()
    return engine.params[-1]


def ids(engine, text):
    return tuple(engine.encode(text))


def test_a_watched_turn_carries_the_thinking_tags(engine):
    got = turn_params(engine, ReasoningTags(), GenerationParams(max_tokens=3, call_scan=SCAN))
    assert got.call_reasoning == ReasoningGate(ids(engine, "<think>"), ids(engine, "</think>"),
                                               inside=False)
    other = ReasoningTags(open="<reason>", close="</reason>")
    got = turn_params(engine, other, GenerationParams(max_tokens=3, call_scan=SCAN))
    assert got.call_reasoning == ReasoningGate(ids(engine, "<reason>"),
                                               ids(engine, "</reason>"), inside=False)


def test_no_gate_without_tags_or_without_a_scan(engine):
    assert turn_params(engine, None, GenerationParams(max_tokens=3, call_scan=SCAN)) \
        .call_reasoning is None
    assert turn_params(engine, ReasoningTags(), GenerationParams(max_tokens=3)) \
        .call_reasoning is None


def test_the_gate_starts_inside_when_the_prompt_opened_the_thinking(engine):
    from paste.parsing.reasoning import ReasoningSplitter

    def decode(t):
        return engine.tokenizer.decode(t, skip_special_tokens=False)

    tags = ReasoningTags()
    opened = ReasoningSplitter.after_prompt(tags, engine.encode("Question?\n<think>\n"), decode)
    plain = ReasoningSplitter.after_prompt(tags, engine.encode("Question?\n"), decode)
    assert (opened.opened_by_prompt, plain.opened_by_prompt) == (True, False)
