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


def completed_choices(text: str, trigger: str, prefixes: tuple[str, ...], suffix: str):
    """The JSON values of the choices in `text`, each starting at an occurrence of `trigger`
    in free text; None when an occurrence is not followed by a whole choice (an unfinished
    last one is returned as the string "unfinished")."""
    values, pos, decoder = [], 0, json.JSONDecoder()
    while (at := text.find(trigger, pos)) >= 0:
        prefix = next((p for p in prefixes if text.startswith(p, at)), None)
        rest = text[at:]
        if prefix is None:
            return values + ["unfinished"] if any(p.startswith(rest) for p in prefixes) \
                else None
        try:
            value, end = decoder.raw_decode(text, at + len(prefix))
        except ValueError:
            return values + ["unfinished"]
        if not text.startswith(suffix, end):
            return values + ["unfinished"] if suffix.startswith(text[end:]) else None
        values.append(value)
        pos = end + len(suffix)
    return values


def test_triggers_start_whole_choices_in_free_text(engine):
    # "#" (token 5 of the tiny tokenizer) is lifted so it comes up often; each time it must
    # open one of the two choices, written whole, and free text goes on after it
    enum = {"type": "object", "properties": {"n": {"enum": [1, 2]}}, "required": ["n"]}
    spec = GrammarSpec(triggers=("#",), choices=(
        GrammarSpec(json.dumps(enum), ";", prefix="#a:"),
        GrammarSpec(json.dumps(SCHEMA), ";", prefix="#b:")))
    found = 0
    for seed in range(4):
        out = engine.generate([[1, 2, 3]], GenerationParams(
            max_tokens=60, temperature=1.0, seed=seed, grammar=spec,
            logit_bias=((5, 8.0), (engine.tokenizer.eos_token_id, -100.0))))[0]
        values = completed_choices(out.text, "#", ("#a:", "#b:"), ";")
        assert values is not None, out.text
        for value in values:
            if value == "unfinished":
                continue
            if "ok" in value:  # the "#b:" choice
                check(value)
            else:
                assert value in ({"n": 1}, {"n": 2})
            found += 1
    assert found >= 4  # the lifted trigger came up: the test saw choices, not only free text


def test_bad_triggered_specs_are_typed_errors():
    with pytest.raises(InvalidArgumentError, match="with choices"):
        GrammarSpec(triggers=("#",))
    with pytest.raises(InvalidArgumentError, match="start with a trigger"):
        GrammarSpec(triggers=("#",), choices=(GrammarSpec(prefix="x:"),))
