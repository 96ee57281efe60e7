"""Constrained decoding (engine/grammar.py) on a real tiny random-initialised model: whatever
the weights prefer, the output is JSON of the schema (then the suffix) and the turn stops
there; bad specs are typed errors that queue nothing."""

from __future__ import annotations

import json

import pytest

from paste.engine.grammar import GrammarError, GrammarSpec
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from test_session_support import shared_tiny_folder, tiny_engine

# every value finite, so a random model cannot write forever inside the grammar
SCHEMA = {"type": "object",
          "properties": {"ok": {"type": "boolean"}, "unit": {"enum": ["c", "f"]},
                         "n": {"enum": [1, 2, 3]}},
          "required": ["ok", "unit", "n"]}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory))
    yield eng
    eng.shutdown()


def check(value: dict) -> None:
    assert sorted(value) == ["n", "ok", "unit"]
    assert isinstance(value["ok"], bool) and value["unit"] in ("c", "f") and value["n"] in (1, 2, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampled_output_is_json_of_the_schema_and_stops(engine, seed):
    params = GenerationParams(max_tokens=80, temperature=1.0, seed=seed,
                              grammar=GrammarSpec(json.dumps(SCHEMA)))
    out = engine.generate([[1, 2, 3, 4]], params)[0]
    assert out.finish_reason == "stop"
    check(json.loads(out.text))
    free = engine.generate([[1, 2, 3, 4]], GenerationParams(max_tokens=20, seed=seed))[0]
    assert free.text != out.text  # the same request without the grammar: the model's own text


def test_suffix_follows_the_json(engine):
    spec = GrammarSpec(json.dumps(SCHEMA), suffix="}\n</tool_call>")
    out = engine.generate([[5, 6, 7]], GenerationParams(max_tokens=80, grammar=spec))[0]
    assert out.finish_reason == "stop" and out.text.endswith("}}\n</tool_call>")
    check(json.loads(out.text[: -len("}\n</tool_call>")]))


def test_choices_give_one_of_their_prefixed_values(engine):
    units = GrammarSpec(json.dumps({"type": "object", "properties": {"u": {"enum": ["c", "f"]}},
                                    "required": ["u"]}), suffix=";", prefix="unit:")
    spec = GrammarSpec(choices=(GrammarSpec(json.dumps(SCHEMA), suffix=";", prefix="full:"),
                                units))
    for seed in range(4):
        out = engine.generate([[1, 2, 3]], GenerationParams(max_tokens=80, temperature=1.0,
                                                            seed=seed, grammar=spec))[0]
        assert out.finish_reason == "stop" and out.text.endswith(";")
        head, _, body = out.text[:-1].partition(":")
        value = json.loads(body)
        if head == "full":
            check(value)
        else:
            assert head == "unit" and value in ({"u": "c"}, {"u": "f"})


def test_bad_specs_are_typed_errors_and_the_engine_goes_on(engine):
    with pytest.raises(InvalidArgumentError, match="choices has no schema"):
        GrammarSpec("{}", choices=(GrammarSpec(),))
    with pytest.raises(InvalidArgumentError, match="without choices"):
        GrammarSpec(choices=(GrammarSpec(choices=(GrammarSpec(),)),))
    with pytest.raises(InvalidArgumentError, match="not JSON"):
        GrammarSpec("{nope")
    with pytest.raises(InvalidArgumentError, match="must be a JSON object"):
        GrammarSpec("[1]")
    with pytest.raises(InvalidArgumentError, match="both a grammar and forced_tokens"):
        GenerationParams(forced_tokens=(1, 2), grammar=GrammarSpec())
    bad = GrammarSpec(json.dumps({"type": "object", "properties": {"a": {"$ref": "#/nope"}}}))
    with pytest.raises(GrammarError, match="cannot build a grammar"):
        engine.generate([[1, 2]], GenerationParams(max_tokens=5, grammar=bad))
    out = engine.generate([[1, 2]], GenerationParams(max_tokens=3, ignore_eos=True))[0]
    assert len(out.token_ids) == 3  # nothing was left queued or masked
