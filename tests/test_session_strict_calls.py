"""open_session(strict_calls=True): every sampled turn of a native session carries the grammar
in which each call the model opens is a whole call of one of the session's tools with
schema-valid arguments (parsing.call_text.calls_spec); teacher-forced turns, sessions without
tools and the default carry none. What the grammar admits is tested on the compiled grammar
in test_server_strict_tools.py."""

from __future__ import annotations

import pytest

from paste.engine.request import GenerationParams
from paste.parsing.call_text import calls_spec
from paste.session import open_session
from paste.tools import ToolRegistry
from test_server_support import FakeScriptedEngine
from test_session_support import add_registry, shared_tiny_folder, tiny_engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = FakeScriptedEngine(tiny_engine(shared_tiny_folder(tmp_path_factory)))
    yield eng
    eng.shutdown()


@pytest.fixture
def registry():
    return add_registry()


def run(engine, tools, **options):
    session = open_session(engine, tools=tools, max_turns=1, **options)
    session.run("Add 2 and 3.")
    session.close()
    return session, engine.params[-1]


def test_sampled_turns_carry_the_calls_grammar(engine, registry):
    session, params = run(engine, registry, strict_calls=True,
                          turn_params=GenerationParams(max_tokens=3))
    expected = calls_spec([t["function"] for t in registry.openai_tools()], None,
                          session.parser)
    assert expected is not None and params.grammar == expected
    assert [c.prefix for c in expected.choices] == ['{"name": "add", "arguments": ']  # json


def test_no_grammar_by_default_without_tools_or_when_forced(engine, registry):
    assert run(engine, registry, turn_params=GenerationParams(max_tokens=3))[1].grammar is None
    assert run(engine, ToolRegistry(), strict_calls=True,
               turn_params=GenerationParams(max_tokens=3))[1].grammar is None
    forced = tuple(engine.encode("Five."))
    _, params = run(engine, registry, strict_calls=True,
                    turn_params=lambda _messages: GenerationParams(forced_tokens=forced))
    assert params.grammar is None and params.forced_tokens == forced
