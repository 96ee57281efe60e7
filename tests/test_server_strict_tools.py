"""Strict tool calls under tool_choice "auto" (prompt.calls_grammar): a tool marked `strict`
makes every call the model opens a whole call of an offered tool, the strict ones with
arguments of their schema; the exact grammar per format, how the APIs attach it, and 400s."""

from __future__ import annotations

import json
from dataclasses import replace

import openai
import pytest

from paste.engine.grammar import GrammarSpec
from paste.parsing.call_text import calls_spec, mistral_args_calls
from paste.parsing.pythonic_grammar import call_list_ebnf
from paste.server.prompt import calls_grammar
from paste.server.tools_schema import ToolChoice, parse_tools
from paste.server.turn import TurnRequest
from test_server_support import always

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMS,
                                            "strict": True}}
TIME = {"type": "function", "function": {"name": "get_time"}}
USER = [{"role": "user", "content": "Weather in Paris?"}]


def turn(choice="auto", strict=frozenset({"get_weather"})):
    return TurnRequest(messages=USER, tools=parse_tools([WEATHER, TIME], flat=False),
                       tool_choice=ToolChoice(choice), strict_tools=strict)


def test_the_grammar_per_format():
    hermes = calls_grammar(turn(), "hermes")
    assert hermes == GrammarSpec(triggers=("<tool_call>",), choices=(
        GrammarSpec(json.dumps(PARAMS), "}\n</tool_call>",
                    prefix='<tool_call>\n{"name": "get_weather", "arguments": '),
        GrammarSpec(None, "}\n</tool_call>",
                    prefix='<tool_call>\n{"name": "get_time", "arguments": ')))
    bare = calls_grammar(turn(), "json")  # plain JSON content must stay free text
    assert bare is not None and bare.triggers == ('{"name": "get_weather"', '{"name": "get_time"')
    assert [c.prefix for c in bare.choices] == ['{"name": "get_weather", "arguments": ',
                                                '{"name": "get_time", "arguments": ']
    llama = calls_grammar(turn(), "llama3_json")
    assert llama is not None and llama.choices[0].prefix == \
        '{"name": "get_weather", "parameters": '
    # a pythonic list opens at `[<tool>(`; its calls are the tools', the strict one's with
    # keyword arguments of its schema, the other's with any
    listed = [("get_weather", PARAMS), ("get_time", None)]
    assert calls_grammar(turn(), "pythonic") == GrammarSpec(
        triggers=("[get_weather(", "[get_time("), choices=(
            GrammarSpec(ebnf=call_list_ebnf(0, listed), suffix="]", prefix="[get_weather("),
            GrammarSpec(ebnf=call_list_ebnf(1, listed), suffix="]", prefix="[get_time(")))
    # a native session's strict calls: every tool strict (calls_spec's None)
    session = calls_spec([WEATHER["function"], TIME["function"]], None, "pythonic")
    assert session is not None and session.choices[1].ebnf == call_list_ebnf(
        1, [("get_weather", PARAMS), ("get_time", None)])
    assert calls_grammar(turn(strict=frozenset({"get_time"})), "pythonic").choices[0].ebnf \
        == call_list_ebnf(0, [("get_weather", None), ("get_time", None)])
    # a [TOOL_CALLS] control token opens mistral's calls: the grammar starts at it and is
    # the JSON list of calls after it (tests/test_engine_start_token.py)
    mistral = calls_grammar(turn(), "mistral")
    assert mistral == GrammarSpec(json.dumps({"type": "array", "minItems": 1, "items": {
        "anyOf": [{"type": "object", "properties": {"name": {"const": name},
                                                    "arguments": arguments},
                   "required": ["name", "arguments"], "additionalProperties": False}
                  for name, arguments in (("get_weather", PARAMS),
                                          ("get_time", {"type": "object"}))]}}),
        start_token="[TOOL_CALLS]")
    # name, the [ARGS] control token, arguments; more calls after [TOOL_CALLS] (a structural
    # tag, tests/test_engine_start_token.py)
    assert calls_grammar(turn(), "mistral_args") == replace(mistral_args_calls(
        [WEATHER["function"], TIME["function"]], frozenset({"get_weather"}), more=True),
        start_token="[TOOL_CALLS]")
    assert calls_grammar(turn(strict=frozenset()), "hermes") is None
    assert calls_grammar(turn("required"), "hermes") is None  # arguments_grammar's case
    assert calls_grammar(turn("none"), "hermes") is None


def test_chat_attaches_it_under_auto_only_with_a_strict_tool(engine, client):
    with engine.scripted(always("Sunny.")):
        client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER, TIME])
        strict = engine.params[-1].grammar
        client.chat.completions.create(model="tiny", messages=USER, tools=[TIME])
        plain = engine.params[-1].grammar
        client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER],
                                       response_format={"type": "json_object"})
        formatted = engine.params[-1].grammar
    assert strict is not None and strict.triggers == ('{"name": "get_weather"',
                                                      '{"name": "get_time"')  # tiny: json
    assert [json.loads(c.json_schema) if c.json_schema else None for c in strict.choices] \
        == [PARAMS, None]
    assert plain is None
    assert formatted == GrammarSpec()  # response_format keeps its own grammar


def test_responses_attach_it_and_echo_strict(engine, client):
    flat = {"type": "function", "name": "get_weather", "parameters": PARAMS, "strict": True}
    with engine.scripted(always("Sunny.")):
        out = client.responses.create(model="tiny", input="Weather?", tools=[
            flat, {"type": "function", "name": "get_time"}])
    assert engine.params[-1].grammar.triggers == ('{"name": "get_weather"',
                                                  '{"name": "get_time"')
    assert [(t.name, t.strict) for t in out.tools] == [("get_weather", True),
                                                       ("get_time", False)]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]},
         "tools[0].function.strict"),
        ({"tools": [WEATHER], "extra_body": {"min_tokens": 2}}, "min_tokens"),
        ({"tools": [WEATHER], "extra_body": {"ignore_eos": True}}, "ignore_eos"),
    ],
)
def test_bad_requests_are_400(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny", messages=USER, max_tokens=4, **kwargs)
    assert err.value.body["param"] == param


def accepts(engine, spec, text):
    """Whether the compiled grammar of `spec` takes `text` (as the tiny model's tokens) and
    then the end of the turn."""
    import xgrammar as xgr

    from paste.engine.grammar import Grammars

    grammars = Grammars(engine.tokenizer, engine.core.runner.vocab_size,
                        list(engine.core.eos_ids))
    matcher = xgr.GrammarMatcher(grammars.compile(spec))
    ids = engine.encode(text) + [engine.tokenizer.eos_token_id]
    return all(matcher.accept_token(t) for t in ids)


@pytest.mark.parametrize(
    ("text", "taken"),
    [
        ("It is sunny.", True),
        ('{"name": "Bob", "age": 3} is plain JSON content', True),  # no tool's call opens
        ('{"name": "get_weather", "arguments": {"city": "Paris"}} then text', True),
        ('{"name": "get_weather", "arguments": {"city": 3}}', False),  # schema: a string
        ('{"name": "get_weather", "arguments": {}}', False),  # city is required
        ('{"name": "get_time", "arguments": {"any": [1, 2]}}', True),  # not strict: any object
        ('{"name": "get_weather", "arguments": {"city":  "Paris"}}', False),  # padding
    ],
)
def test_the_json_format_grammar_takes_calls_and_content_exactly(engine, text, taken):
    assert accepts(engine, calls_grammar(turn(), "json"), text) is taken
