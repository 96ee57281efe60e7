"""prompt.forced_call_prefix: the start of a call an answer is made to begin with under
tool_choice, per tool-call format, exact; and that the format's parser reads the prefix plus
the model's continuation as one call of the right tool."""

from __future__ import annotations

import json

import pytest

from paste.engine.grammar import GrammarSpec
from paste.parsing import parse_tool_calls
from paste.parsing.pythonic_grammar import arguments_ebnf
from paste.server.prompt import arguments_grammar, forced_call_prefix
from paste.server.tools_schema import ToolChoice
from paste.server.turn import TurnRequest

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}


def turn(mode: str, name: str | None = None, tools: list | None = None) -> TurnRequest:
    return TurnRequest(messages=[{"role": "user", "content": "hi"}],
                       tools=[TOOL] if tools is None else tools,
                       tool_choice=ToolChoice(mode, name))


@pytest.mark.parametrize("fmt, required, named, rest", [
    ("hermes", '<tool_call>\n{"name": "', '<tool_call>\n{"name": "get_weather", "arguments": ',
     '{"city": "Paris"}}\n</tool_call>'),
    ("json", '{"name": "', '{"name": "get_weather", "arguments": ', '{"city": "Paris"}}'),
    ("llama3_json", '{"name": "', '{"name": "get_weather", "parameters": ',
     '{"city": "Paris"}}'),
    ("pythonic", "[", "[get_weather(", 'city="Paris")]'),
    ("mistral", '[TOOL_CALLS][{"name": "', '[TOOL_CALLS][{"name": "get_weather", "arguments": ',
     '{"city": "Paris"}}]'),
    ("mistral_args", "[TOOL_CALLS]", "[TOOL_CALLS]get_weather[ARGS]", '{"city": "Paris"}'),
])
def test_prefixes_per_format_parse_to_the_named_call(fmt, required, named, rest):
    assert forced_call_prefix(turn("required"), fmt) == required
    assert forced_call_prefix(turn("function", "get_weather"), fmt) == named
    out = parse_tool_calls(named + rest, format=fmt)
    assert [(c.name, c.arguments) for c in out.calls] == [("get_weather", {"city": "Paris"})]
    assert out.content == ""
    # "required": the model writes the name too
    assert named.startswith(required)
    again = parse_tool_calls(required + named[len(required):] + rest, format=fmt)
    assert [(c.name, c.arguments) for c in again.calls] == [("get_weather", {"city": "Paris"})]


def test_no_prefix_for_auto_none_or_without_tools():
    assert forced_call_prefix(turn("auto"), "hermes") == ""
    assert forced_call_prefix(turn("none"), "hermes") == ""
    assert forced_call_prefix(turn("required", tools=[]), "hermes") == ""


def test_arguments_grammar_named_required_and_none():
    params = {"type": "object", "properties": {"city": {"type": "string"}}}
    tools = [TOOL, {"type": "function", "function": {"name": "get_time", "parameters": params}}]
    named = arguments_grammar(turn("function", "get_time", tools), "hermes")
    assert named == GrammarSpec(json.dumps(params), "}\n</tool_call>")
    # TOOL's empty parameters: any object
    required = arguments_grammar(turn("required", tools=tools), "json")
    assert required == GrammarSpec(choices=(
        GrammarSpec('{"type": "object"}', "}", prefix='get_weather", "arguments": '),
        GrammarSpec(json.dumps(params), "}", prefix='get_time", "arguments": ')))
    llama = arguments_grammar(turn("required", tools=tools), "llama3_json")
    assert llama.choices[0].prefix == 'get_weather", "parameters": '
    # pythonic: keyword arguments of the schema, then the call's and the list's closing
    assert arguments_grammar(turn("function", "get_time", tools), "pythonic") == GrammarSpec(
        ebnf=arguments_ebnf(params), suffix=")]")
    assert arguments_grammar(turn("required", tools=tools), "pythonic") == GrammarSpec(choices=(
        GrammarSpec(ebnf=arguments_ebnf({}), suffix=")]", prefix="get_weather("),
        GrammarSpec(ebnf=arguments_ebnf(params), suffix=")]", prefix="get_time(")))
    assert arguments_grammar(turn("auto"), "hermes") is None
    assert arguments_grammar(turn("none"), "json") is None
