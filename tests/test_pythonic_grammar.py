"""parsing/pythonic_grammar.py: a tool's JSON schema as the EBNF of a pythonic call's keyword
arguments; exact texts accepted and refused, and a random tiny model constrained by it
writes calls the pythonic parser reads with arguments of the schema."""

from __future__ import annotations

import json

import pytest

from paste.engine.grammar import GrammarError, GrammarSpec
from paste.engine.request import GenerationParams
from paste.parsing import parse_tool_calls
from paste.parsing.call_text import calls_spec
from paste.parsing.pythonic_grammar import MISSING_REF, arguments_ebnf, call_list_ebnf
from test_session_support import shared_tiny_folder, tiny_engine

WEATHER = {"type": "object", "required": ["city"], "properties": {
    "city": {"type": "string"},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    "days": {"type": "integer"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "opts": {"type": "object", "required": ["x"],
             "properties": {"x": {"type": "number"}, "y": {"type": ["boolean", "null"]}}}}}


def accepts(ebnf: str, text: str) -> bool:
    """Whether `text` is a whole sentence of the grammar's root."""
    import xgrammar as xgr

    compiled = xgr.GrammarCompiler(xgr.TokenizerInfo(["a"])).compile_grammar(
        xgr.Grammar.from_ebnf(ebnf))
    matcher = xgr.GrammarMatcher(compiled)
    return matcher.accept_string(text) and matcher.is_completed()


@pytest.mark.parametrize("text, ok", [
    ("city='Paris'", True),
    ('city="Paris", unit=\'celsius\'', True),
    ("city='Paris', days=3, tags=['a', \"b\"]", True),
    ("city='P',days=-2", True),  # no space after the comma is fine
    ("city='P', opts={'x': 1.5, 'y': None}", True),
    ('city=\'P\', opts={"x": 2e3, "y": True}', True),
    ("city='it\\'s'", True),
    ("unit='celsius'", False),  # the required city left out
    ("city='P', unit='kelvin'", False),  # not in the enum
    ("city='P', opts={'y': True}", False),  # the nested required x left out
    ("days=3, city='P'", False),  # the schema's order
    ("city='P', days=3.5", False),  # an integer
    ("city='P',  days=3", False),  # a run of spaces
    ("city='P', wind=3", False),  # not a property
    ("city=Paris", False),  # not a literal
    ("", False),
])
def test_arguments_of_a_schema(text, ok):
    assert accepts(arguments_ebnf(WEATHER), text) is ok


def test_without_properties_any_keyword_arguments():
    for params in (None, {}, {"type": "object", "properties": {}}):
        ebnf = arguments_ebnf(params)
        assert accepts(ebnf, "")
        assert accepts(ebnf, "a=1, b='x', c=[1, {'k': None}], d=-0.5, e=False")
        assert not accepts(ebnf, "1, 2")  # positional
        assert not accepts(ebnf, "a=b")  # a name, not a literal


def test_refs_consts_any_of_and_free_values():
    schema = {"type": "object", "required": ["node", "mode", "extra"],
              "properties": {"node": {"$ref": "#/$defs/N"}, "mode": {"const": "fast"},
                             "extra": {}},
              "$defs": {"N": {"type": "object", "required": ["v", "next"], "properties": {
                  "v": {"type": "integer"},
                  "next": {"anyOf": [{"$ref": "#/$defs/N"}, {"type": "null"}]}}}}}
    ebnf = arguments_ebnf(schema)
    assert accepts(ebnf, "node={'v': 1, 'next': {'v': 2, 'next': None}}, mode='fast', "
                         "extra=[True]")
    assert accepts(ebnf, 'node={"v": 1, "next": None}, mode="fast", extra=\'x\'')
    assert not accepts(ebnf, "node={'v': 1}, mode='fast', extra=1")
    assert not accepts(ebnf, "node={'v': 1, 'next': None}, mode='slow', extra=1")



@pytest.mark.parametrize("ref", ["#/nope", "#/$defs/N/x", "other.json", 3])
def test_a_ref_to_nothing_fails_to_build_as_in_a_json_schema(engine, ref):
    schema = {"type": "object", "properties": {"a": {"$ref": ref}},
              "$defs": {"N": {"type": "integer"}}}
    assert MISSING_REF in arguments_ebnf(schema)
    spec = GrammarSpec(ebnf=arguments_ebnf(schema), suffix=")]", prefix="[f(")
    with pytest.raises(GrammarError, match="cannot build a grammar from the EBNF grammar"):
        engine.generate([[1, 2]], GenerationParams(max_tokens=5, grammar=spec))
    out = engine.generate([[1, 2]], GenerationParams(max_tokens=3, ignore_eos=True))[0]
    assert len(out.token_ids) == 3  # nothing was left queued or masked


def test_a_call_list_after_its_first_call():
    tools = [("get_weather", WEATHER), ("now", None)]
    ebnf = call_list_ebnf(0, tools)
    assert accepts(ebnf, "city='P')")
    assert accepts(ebnf, "city='P'), now(), get_weather(city='Q', days=1)")
    assert accepts(call_list_ebnf(1, tools), "tz='UTC'), get_weather(city='Q')")
    assert not accepts(ebnf, "city='P'), get_weather(town='Q')")
    assert not accepts(ebnf, "city='P'), other()")
    assert not accepts(ebnf, "city='P')]")  # the list's `]` is the grammar's suffix


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory))
    yield eng
    eng.shutdown()


# every value finite, so a random model cannot write forever inside the grammar
FINITE = {"type": "object", "required": ["ok", "unit"], "properties": {
    "ok": {"type": "boolean"}, "unit": {"enum": ["c", "f"]}, "n": {"enum": [1, 2, None]}}}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_random_model_writes_calls_of_the_schema(engine, seed):
    spec = GrammarSpec(ebnf=arguments_ebnf(FINITE), suffix=")]", prefix="[f(")
    out = engine.generate([[1, 2, 3]], GenerationParams(max_tokens=60, temperature=1.0,
                                                        seed=seed, grammar=spec))[0]
    assert out.finish_reason == "stop", out.text
    calls = parse_tool_calls(out.text, format="pythonic").calls
    assert len(calls) == 1 and calls[0].name == "f", out.text
    args = calls[0].arguments
    assert set(args) in ({"ok", "unit"}, {"ok", "unit", "n"})
    assert isinstance(args["ok"], bool) and args["unit"] in ("c", "f")
    assert args.get("n", 1) in (1, 2, None)


def test_strict_call_lists_open_whole_in_free_text(engine):
    # the tokens of "[f(" are lifted so the opening comes up often; each time the list must be
    # written whole (calls of f with arguments of its schema), and free text goes on after it
    spec = calls_spec([{"name": "f", "parameters": FINITE}], None, "pythonic")
    lifted = (*((t, 8.0) for t in sorted(set(engine.encode("[f(")))),
              (engine.tokenizer.eos_token_id, -100.0))  # the turn may not end early
    found = 0
    for seed in range(8):
        out = engine.generate([[1, 2, 3]], GenerationParams(
            max_tokens=160, temperature=1.0, seed=seed, grammar=spec, logit_bias=lifted))[0]
        pos = 0
        while (at := out.text.find("[f(", pos)) >= 0:
            end = out.text.find("]", at)  # no value of FINITE holds a `]`
            if end < 0:
                break  # the output ended inside the list
            calls = parse_tool_calls(out.text[at:end + 1], format="pythonic").calls
            assert calls and {c.name for c in calls} == {"f"}, out.text
            for call in calls:
                assert isinstance(call.arguments["ok"], bool), out.text
                assert call.arguments["unit"] in ("c", "f"), out.text
            found += len(calls)
            pos = end + 1
    assert found >= 4  # the lifted opening came up: the test saw calls, not only free text


def test_http_forced_calls_follow_the_schema_and_a_bad_ref_is_400(engine):
    import openai

    from test_server_support import live_server, openai_client

    tool = {"type": "function", "function": {"name": "f", "parameters": FINITE}}
    bad = {"type": "function", "function": {"name": "g", "parameters": {
        "type": "object", "properties": {"a": {"$ref": "#/nope"}}}}}
    user = [{"role": "user", "content": "Call f."}]
    with live_server(engine, tool_call_parser="pythonic") as server:
        client = openai_client(server)
        for seed, choice in enumerate(["required", {"type": "function",
                                                     "function": {"name": "f"}}]):
            out = client.chat.completions.create(model="tiny", messages=user, tools=[tool],
                                                 tool_choice=choice, temperature=1.0,
                                                 seed=seed, max_tokens=60)
            assert out.choices[0].finish_reason == "tool_calls"
            (call,) = out.choices[0].message.tool_calls
            args = json.loads(call.function.arguments)
            assert call.function.name == "f" and isinstance(args["ok"], bool)
            assert args["unit"] in ("c", "f") and args.get("n", 1) in (1, 2, None)
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="tiny", messages=user, tools=[bad],
                                           tool_choice="required")
        assert err.value.body["param"] == "tools"
        assert "cannot build a grammar" in err.value.body["message"]
