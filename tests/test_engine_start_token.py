"""A grammar that starts at a special token (GrammarSpec.start_token, engine/grammar.py): the
output is free until the model writes the token, then constrained; Mistral's strict tool
calls (parsing.call_text.calls_spec) are such a grammar. On a random tiny model whose
tokenizer has `[TOOL_CALLS]`: what follows the token is a call list the mistral parser reads,
of the offered tools with arguments of their schemas, and the turn ends with it. The
mistral_args layout holds a second control token, `[ARGS]`, between a call's name and its
arguments: its grammar is a structural tag with token items (GrammarSpec.structural)."""

from __future__ import annotations

import json

import pytest

from paste.engine.drafts import can_draft
from paste.engine.grammar import GrammarError, GrammarSpec
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from paste.parsing import parse_tool_calls
from paste.parsing.call_text import calls_spec, mistral_args_calls
from tiny_model import build_tiny_model, make_tiny_engine

FINITE = {"type": "object", "required": ["ok", "unit"], "properties": {
    "ok": {"type": "boolean"}, "unit": {"enum": ["c", "f"]}}}
TOOLS = [{"name": "f", "parameters": FINITE}, {"name": "g", "parameters": {
    "type": "object", "properties": {"n": {"enum": [1, 2]}}, "required": ["n"]}}]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-mistral"), "llama",
                              special=("[TOOL_CALLS]",))
    eng = make_tiny_engine(folder)
    yield eng
    eng.shutdown()


def test_the_mistral_calls_grammar_is_the_call_list_after_the_token():
    spec = calls_spec(TOOLS, frozenset({"f"}), "mistral")
    assert spec is not None and spec.start_token == "[TOOL_CALLS]"
    items = json.loads(spec.json_schema)["items"]["anyOf"]
    assert [i["properties"]["name"] for i in items] == [{"const": "f"}, {"const": "g"}]
    assert [i["properties"]["arguments"] for i in items] == [FINITE, {"type": "object"}]
    assert not can_draft(GenerationParams(grammar=spec))


def test_free_text_then_whole_calls_after_the_token(engine):
    spec = calls_spec(TOOLS, None, "mistral")
    start = engine.tokenizer.convert_tokens_to_ids("[TOOL_CALLS]")
    complete = 0
    for seed in range(8):
        out = engine.generate([[1, 2, 3]], GenerationParams(
            max_tokens=120, temperature=1.0, seed=seed, grammar=spec,
            logit_bias=((start, 6.0),)))[0]
        if start not in out.token_ids:
            continue
        assert out.token_ids.count(start) == 1, out.text  # constrained after it: JSON only
        if out.finish_reason == "length":
            continue  # cut inside the list (a random model may list calls at length)
        assert out.finish_reason == "stop", out.text  # the list complete, the turn ends
        complete += 1
        calls = parse_tool_calls(out.text, format="mistral").calls
        assert calls, out.text
        for call in calls:
            if call.name == "f":
                assert isinstance(call.arguments["ok"], bool) and call.arguments["unit"] in "cf"
            else:
                assert call.name == "g" and call.arguments in ({"n": 1}, {"n": 2})
    assert complete >= 3  # the lifted token came up: the test saw whole call lists


def test_a_start_token_the_tokenizer_lacks_is_a_typed_error(engine, tmp_path):
    spec = GrammarSpec('{"type": "object"}', start_token="[NOPE]")
    with pytest.raises(GrammarError, match="no '\\[NOPE\\]' token"):
        engine.generate([[1, 2]], GenerationParams(max_tokens=3, grammar=spec))
    out = engine.generate([[1, 2]], GenerationParams(max_tokens=3, ignore_eos=True))[0]
    assert len(out.token_ids) == 3  # nothing was left queued
    for bad in ("", 3):
        with pytest.raises(InvalidArgumentError, match="start_token must be a non-empty"):
            GrammarSpec(start_token=bad)  # type: ignore[arg-type]


ARGS_TOOLS = [{"name": "f", "parameters": FINITE}, {"name": "g", "parameters": {
    "type": "object", "properties": {"n": {"enum": [1, 2]}}, "required": ["n"]}}]


@pytest.fixture(scope="module")
def args_engine(tmp_path_factory):
    """A tiny model whose tokenizer has both of mistral_args's control tokens."""
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-mistral-args"), "llama",
                              special=("[TOOL_CALLS]", "[ARGS]"))
    eng = make_tiny_engine(folder)
    yield eng
    eng.shutdown()


def _one_call(name, schema):
    return {"type": "sequence", "elements": [
        {"type": "const_string", "value": name}, {"type": "token", "token": "[ARGS]"},
        {"type": "json_schema", "max_whitespace_cnt": 1, "json_schema": schema}]}


def test_the_mistral_args_calls_grammar_holds_its_control_tokens():
    spec = calls_spec(ARGS_TOOLS, frozenset({"f"}), "mistral_args")
    assert spec is not None and spec.start_token == "[TOOL_CALLS]"
    assert spec.kind == "structural" and not can_draft(GenerationParams(grammar=spec))
    one = {"type": "or", "elements": [_one_call("f", FINITE),
                                      _one_call("g", {"type": "object"})]}  # g: not strict
    assert json.loads(spec.structural) == {"type": "sequence", "elements": [one, {
        "type": "star", "content": {"type": "sequence", "elements": [
            {"type": "token", "token": "[TOOL_CALLS]"}, one]}}]}
    single = mistral_args_calls(ARGS_TOOLS, None, more=False)
    assert json.loads(single.structural) == {"type": "or", "elements": [
        _one_call("f", FINITE), _one_call("g", ARGS_TOOLS[1]["parameters"])]}
    assert single.start_token is None


def _walk(engine, spec, texts):
    """Feeds the token ids of `texts` (a text, or a list of ids) to a new matcher of spec:
    (all accepted, then the end of the turn accepted)."""
    import xgrammar as xgr

    matcher = xgr.GrammarMatcher(engine.core.grammars.compile(spec))
    ids = []
    for text in texts:
        ids += text if isinstance(text, list) else engine.encode(text)
    if not all(matcher.accept_token(t) for t in ids):
        return False, False
    return True, matcher.accept_token(engine.core.eos_ids[0])


@pytest.mark.parametrize(("texts", "accepted", "ends"), [
    (['f[ARGS]{"ok": true, "unit": "c"}'], True, True),
    (['f[ARGS]{"ok": true, "unit": "c"}[TOOL_CALLS]g[ARGS]{"n": 2}'], True, True),
    (['g[ARGS]{"zz": [1]}'], True, True),  # g is not strict: any object
    (['f[ARGS]{"ok": 1, "unit": "c"}'], False, False),  # f is: ok is a boolean
    (['h[ARGS]{}'], False, False),  # not an offered tool
    (['f[ARGS]{"ok": true, "unit": "c"} more'], False, False),  # only calls after a call
    (['f[ARGS]{"ok": true'], True, False),  # the arguments are not closed
    (["f", "[", "ARGS]"], False, False),  # [ARGS] must be the control token, not its text
    (['f[ARGS]{"ok": true, "unit": "c"}[TOOL_CALLS]'], True, False),  # a call must follow
])
def test_mistral_args_calls_accept_exactly_whole_calls(args_engine, texts, accepted, ends):
    assert args_engine.encode("f[ARGS]")[-1] == \
        args_engine.tokenizer.convert_tokens_to_ids("[ARGS]")
    assert args_engine.encode("[")[0] != args_engine.tokenizer.convert_tokens_to_ids("[ARGS]")
    spec = calls_spec(ARGS_TOOLS, frozenset({"f"}), "mistral_args")
    assert _walk(args_engine, spec, texts) == (accepted, ends)


def test_free_text_then_whole_mistral_args_calls_after_the_token(args_engine):
    spec = calls_spec(ARGS_TOOLS, None, "mistral_args")
    start, marker = args_engine.tokenizer.convert_tokens_to_ids(["[TOOL_CALLS]", "[ARGS]"])
    complete = 0
    for seed in range(8):
        out = args_engine.generate([[1, 2, 3]], GenerationParams(
            max_tokens=120, temperature=1.0, seed=seed, grammar=spec,
            logit_bias=((start, 6.0),)))[0]
        if start not in out.token_ids or out.finish_reason == "length":
            continue  # no call, or cut inside one
        assert out.finish_reason == "stop", out.text
        complete += 1
        calls = parse_tool_calls(out.text, format="mistral_args").calls
        after = out.token_ids[out.token_ids.index(start):]
        assert after.count(marker) == len(calls) == after.count(start), out.text
        for call in calls:
            if call.name == "f":
                assert isinstance(call.arguments["ok"], bool) and call.arguments["unit"] in "cf"
            else:
                assert call.name == "g" and call.arguments in ({"n": 1}, {"n": 2})
    assert complete >= 3


def test_a_control_token_the_tokenizer_lacks_is_constrained_as_its_text(engine):
    """The module's first tokenizer has [TOOL_CALLS] but no [ARGS]: a model without the
    token writes it as text, and the grammar then asks for that text."""
    assert len(engine.encode("[ARGS]")) > 1
    spec = mistral_args_calls(ARGS_TOOLS, None, more=False)
    assert _walk(engine, spec, ['g[ARGS]{"n": 1}']) == (True, True)
    assert _walk(engine, spec, ['g{"n": 1}']) == (False, False)
