"""A grammar that starts at a special token (GrammarSpec.start_token, engine/grammar.py): the
output is free until the model writes the token, then constrained; Mistral's strict tool
calls (parsing.call_text.calls_spec) are such a grammar. On a random tiny model whose
tokenizer has `[TOOL_CALLS]`: what follows the token is a call list the mistral parser reads,
of the offered tools with arguments of their schemas, and the turn ends with it."""

from __future__ import annotations

import json

import pytest

from paste.engine.drafts import can_draft
from paste.engine.grammar import GrammarError, GrammarSpec
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from paste.parsing import parse_tool_calls
from paste.parsing.call_text import calls_spec
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
    assert calls_spec(TOOLS, None, "mistral_args") is None  # its [ARGS] token too
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
