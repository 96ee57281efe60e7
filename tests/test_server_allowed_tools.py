"""OpenAI's `allowed_tools` tool_choice (server/tools_schema.py, prompt.py): every tool stays
in the prompt, the model may call only the listed ones: their parsing in both APIs' forms,
the grammars that constrain the calls (exact), what the server attaches and echoes, the
prompt's hint, and 400s naming tool_choice."""

from __future__ import annotations

import json

import openai
import pytest

from paste.engine.grammar import GrammarSpec
from paste.parsing.pythonic_grammar import arguments_ebnf, call_list_ebnf
from paste.server.errors import BadRequestError
from paste.server.prompt import arguments_grammar, calls_grammar
from paste.server.tools_schema import ToolChoice, parse_tool_choice, parse_tools
from paste.server.turn import TurnRequest
from test_server_support import always

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMS}}
TIME = {"type": "function", "function": {"name": "get_time"}}
FLAT = [{"type": "function", "name": "get_weather", "parameters": PARAMS},
        {"type": "function", "name": "get_time"}]
USER = [{"role": "user", "content": "What time is it in Paris?"}]
NESTED_CHOICE = {"type": "allowed_tools", "allowed_tools": {
    "mode": "auto", "tools": [{"type": "function", "function": {"name": "get_time"}}]}}
FLAT_CHOICE = {"type": "allowed_tools", "mode": "required",
               "tools": [{"type": "function", "name": "get_time"}]}


def tools():
    return parse_tools([WEATHER, TIME], flat=False)


def test_both_forms_parse_to_the_subset():
    assert parse_tool_choice(NESTED_CHOICE, tools(), flat=False) == ToolChoice(
        "auto", allowed=("get_time",))
    twice = dict(FLAT_CHOICE, tools=FLAT_CHOICE["tools"] * 2
                 + [{"type": "function", "name": "get_weather"}])
    assert parse_tool_choice(twice, tools(), flat=True) == ToolChoice(
        "required", allowed=("get_time", "get_weather"))
    assert ToolChoice("required", allowed=("get_time",)).echo() == FLAT_CHOICE


@pytest.mark.parametrize("choice", [
    {"type": "allowed_tools", "mode": "sometimes", "tools": FLAT_CHOICE["tools"]},
    {"type": "allowed_tools", "mode": "auto", "tools": []},
    {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "nope"}]},
    {"type": "allowed_tools", "mode": "auto", "tools": ["get_time"]},
    {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "web", "name": "get_time"}]},
])
def test_malformed_choices_are_a_400_naming_tool_choice(choice):
    with pytest.raises(BadRequestError) as info:
        parse_tool_choice(choice, tools(), flat=True)
    assert info.value.param == "tool_choice"


def test_the_grammars_hold_only_the_allowed_tools():
    auto = TurnRequest(messages=USER, tools=tools(),
                       tool_choice=ToolChoice("auto", allowed=("get_time",)))
    assert calls_grammar(auto, "hermes") == GrammarSpec(triggers=("<tool_call>",), choices=(
        GrammarSpec(None, "}\n</tool_call>",
                    prefix='<tool_call>\n{"name": "get_time", "arguments": '),))
    required = TurnRequest(messages=USER, tools=tools(),
                           tool_choice=ToolChoice("required", allowed=("get_weather",)))
    assert arguments_grammar(required, "json") == GrammarSpec(choices=(
        GrammarSpec(json.dumps(PARAMS), "}", prefix='get_weather", "arguments": '),))
    assert calls_grammar(auto, "pythonic") == GrammarSpec(triggers=("[get_time(",), choices=(
        GrammarSpec(ebnf=call_list_ebnf(0, [("get_time", None)]), suffix="]",
                    prefix="[get_time("),))
    assert arguments_grammar(required, "pythonic") == GrammarSpec(choices=(
        GrammarSpec(ebnf=arguments_ebnf(PARAMS), suffix=")]", prefix="get_weather("),))
    # mistral_args: `<tool>[ARGS]{...}` calls of the allowed tools only (a structural tag)
    listed = json.loads(calls_grammar(auto, "mistral_args").structural)["elements"][0]
    assert [c["elements"][0]["value"] for c in listed["elements"]] == ["get_time"]
    forced = json.loads(arguments_grammar(required, "mistral_args").structural)
    assert [c["elements"][0]["value"] for c in forced["elements"]] == ["get_weather"]
    assert forced["elements"][0]["elements"][2]["json_schema"] == PARAMS


def test_chat_keeps_every_tool_in_the_prompt_and_constrains_the_calls(engine, client):
    with engine.scripted(always("It is noon.")):
        reply = client.chat.completions.create(model="tiny", messages=USER,
                                               tools=[WEATHER, TIME], tool_choice=NESTED_CHOICE)
    assert reply.choices[0].message.content == "It is noon."
    prompt = engine.prompts[-1]
    assert "get_weather" in prompt and "You may call only these tools: get_time." in prompt
    turn = TurnRequest(messages=USER, tools=tools(),
                       tool_choice=ToolChoice("auto", allowed=("get_time",)))
    assert engine.params[-1].grammar == calls_grammar(turn, "json")


def test_responses_echo_the_choice_and_force_an_allowed_call(engine, client):
    with engine.scripted(always('{"name": "get_time", "arguments": {}}')):
        response = client.responses.create(model="tiny", input="Time?", tools=FLAT,
                                           tool_choice=FLAT_CHOICE)
    assert response.tool_choice.model_dump(exclude_none=True) == FLAT_CHOICE
    assert "You must answer with a call of one of these tools: get_time." in engine.prompts[-1]
    grammar = engine.params[-1].grammar
    assert [c.prefix for c in grammar.choices] == ['get_time", "arguments": ']
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="tiny", input="Time?", tools=FLAT, tool_choice={
            "type": "allowed_tools", "mode": "auto", "tools": [{"type": "function",
                                                               "name": "get_date"}]})
    assert info.value.body["param"] == "tool_choice"
