"""vLLM's guided decoding fields (server/guided.py) on Chat Completions and Completions, with a
random tiny model: whatever it would write, the output follows the regex, the choice, the
EBNF grammar or the JSON schema; every bad field is a 400 naming it."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from paste.engine.grammar import GrammarSpec
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from paste.server.guided import guided_grammar

MESSAGES = [{"role": "user", "content": "Pick one."}]


def chat(server, **body):
    reply = httpx.post(f"{server.url}/v1/chat/completions",
                       json={"model": "tiny", "messages": MESSAGES, **body}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]


def complete(server, **body):
    reply = httpx.post(f"{server.url}/v1/completions",
                       json={"model": "tiny", "prompt": "Answer:", **body}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_guided_regex_on_both_apis(server, seed):
    pattern = r"(cat|dog)-[0-9]{2}"
    for choice in (chat(server, guided_regex=pattern, seed=seed, temperature=1.0,
                        max_tokens=32)["message"]["content"],
                   complete(server, guided_regex=pattern, seed=seed, temperature=1.0,
                            max_tokens=32)["text"]):
        assert re.fullmatch(pattern, choice), choice


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_guided_choice_and_structured_outputs_choice(server, seed):
    options = ["positive", "negative", "neutral \"quoted\""]
    got = chat(server, guided_choice=options, seed=seed, temperature=1.0, max_tokens=32)
    assert got["message"]["content"] in options and got["finish_reason"] == "stop"
    newer = complete(server, structured_outputs={"choice": options}, seed=seed,
                     temperature=1.0, max_tokens=32)
    assert newer["text"] in options


def test_guided_json_schema_given_as_object_or_text(server):
    schema = {"type": "object", "properties": {"n": {"type": "integer"},
                                                "ok": {"type": "boolean"}},
              "required": ["n", "ok"], "additionalProperties": False}
    for value in (schema, json.dumps(schema)):
        text = chat(server, guided_json=value, max_tokens=64, temperature=0)["message"]["content"]
        parsed = json.loads(text)
        assert set(parsed) == {"n", "ok"} and isinstance(parsed["n"], int)
        assert isinstance(parsed["ok"], bool)
    newer = complete(server, structured_outputs={"json": schema}, max_tokens=64)
    assert set(json.loads(newer["text"])) == {"n", "ok"}
    # any object (a random model may not close one within a test's max_tokens)
    assert guided_grammar({"structured_outputs": {"json_object": True}}) == GrammarSpec()
    assert guided_grammar({"guided_choice": ["a", "b", "a"]}) == GrammarSpec(
        ebnf='root ::= "a" | "b"')
    assert guided_grammar({"structured_outputs": {"json_object": False}}) is None


def test_guided_grammar_ebnf(server):
    grammar = 'root ::= "x=" digit digit ";"\ndigit ::= [0-9]'
    text = chat(server, guided_grammar=grammar, temperature=1.0, seed=4,
                max_tokens=16)["message"]["content"]
    assert re.fullmatch(r"x=[0-9]{2};", text)


def test_the_engine_honours_regex_and_ebnf_specs(engine):
    out = engine.generate(["Hi"], GenerationParams(max_tokens=20, temperature=1.0, seed=3,
                                                   grammar=GrammarSpec(regex=r"[ab]{3}!")))[0]
    assert re.fullmatch(r"[ab]{3}!", out.text) and out.finish_reason == "stop"
    spec = GrammarSpec(ebnf='root ::= "<" [0-9] ">"', prefix="n", suffix=".")
    out = engine.generate(["Hi"], GenerationParams(max_tokens=20, grammar=spec))[0]
    assert re.fullmatch(r"n<[0-9]>\.", out.text)


def test_grammar_spec_refuses_two_cores_and_empty_text():
    with pytest.raises(InvalidArgumentError, match="one of json_schema, regex, ebnf and structural"):
        GrammarSpec(json_schema="{}", regex="a")
    with pytest.raises(InvalidArgumentError, match="non-empty strings"):
        GrammarSpec(regex="")
    with pytest.raises(InvalidArgumentError, match="has no schema, regex"):
        GrammarSpec(choices=(GrammarSpec(),), ebnf='root ::= "a"')


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"guided_regex": "(ab"}, "guided_regex"),
        ("/v1/chat/completions", {"guided_grammar": "root ::= missing"}, "guided_grammar"),
        ("/v1/chat/completions", {"guided_choice": []}, "guided_choice"),
        ("/v1/chat/completions", {"guided_choice": ["a", ""]}, "guided_choice"),
        ("/v1/chat/completions", {"guided_json": "[1, 2]"}, "guided_json"),
        ("/v1/chat/completions", {"guided_json": "{not json"}, "guided_json"),
        ("/v1/chat/completions", {"guided_regex": "a", "guided_choice": ["a"]},
         "guided_choice"),
        ("/v1/chat/completions", {"guided_regex": "a",
                                  "response_format": {"type": "json_object"}},
         "response_format"),
        ("/v1/chat/completions", {"guided_decoding_backend": "outlines", "guided_regex": "a"},
         "guided_decoding_backend"),
        ("/v1/completions", {"guided_whitespace_pattern": " ", "guided_json": {}},
         "guided_whitespace_pattern"),
        ("/v1/completions", {"structured_outputs": {"structural_tag": "x"}},
         "structured_outputs.structural_tag"),
        ("/v1/completions", {"structured_outputs": {"json_object": "yes"}},
         "structured_outputs.json_object"),
        ("/v1/completions", {"structured_outputs": "regex"}, "structured_outputs"),
        ("/v1/completions", {"guided_regex": "a", "min_tokens": 2}, "min_tokens"),
        ("/v1/completions", {"structured_outputs": {"structural_tag": {"format": {
            "type": "regex"}}}}, "structured_outputs.structural_tag.format"),  # no pattern
        ("/v1/chat/completions", {"response_format": {"type": "structural_tag", "format": {
            "type": "nope"}}}, "response_format.format"),
        ("/v1/chat/completions", {"response_format": {"type": "structural_tag"}},
         "response_format"),
        ("/v1/chat/completions", {"response_format": {
            "type": "structural_tag", "structures": [{"begin": "<f>", "end": "</f>"}],
            "triggers": []}}, "response_format"),  # no trigger could open a structure
        ("/v1/chat/completions", {"response_format": {
            "type": "structural_tag", "structures": [{"begin": 1, "end": ""}],
            "triggers": ["<"]}}, "response_format.structures[0]"),
        ("/v1/chat/completions", {"response_format": {
            "type": "structural_tag", "structures": [{"begin": "<f>", "end": "</f>"}],
            "triggers": ["["]}}, "response_format.triggers"),  # no trigger opens it
        # well formed, but xgrammar cannot compile its grammar: the engine's GrammarError
        ("/v1/chat/completions", {"response_format": {"type": "structural_tag", "format": {
            "type": "grammar", "grammar": "root ::= missing"}}}, "response_format"),
    ],
)
def test_bad_guided_fields_are_400_naming_the_field(server, path, body, param):
    base = {"messages": MESSAGES} if "chat" in path else {"prompt": "Answer:"}
    reply = httpx.post(f"{server.url}{path}", json={"model": "tiny", **base, **body},
                       timeout=60)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param


STAG = {"type": "sequence", "elements": [
    {"type": "const_string", "value": "n="}, {"type": "regex", "pattern": "[0-9]{3}"},
    {"type": "const_string", "value": ";"}]}


def test_structural_tags_become_their_grammar_specs():
    spec = GrammarSpec(structural=json.dumps(STAG))
    assert guided_grammar({"structured_outputs": {"structural_tag": {"format": STAG}}}) == spec
    assert guided_grammar({"structured_outputs": {"structural_tag": json.dumps(
        {"type": "structural_tag", "format": STAG})}}) == spec
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    legacy = {"type": "structural_tag", "triggers": ["<f"], "structures": [
        {"begin": "<f=1>", "schema": schema, "end": "</f>"},
        {"begin": "<f=2>", "end": "</f>"}]}
    assert guided_grammar({"structured_outputs": {"structural_tag": legacy}}) == GrammarSpec(
        triggers=("<f",), choices=(GrammarSpec(json.dumps(schema), "</f>", prefix="<f=1>"),
                                   GrammarSpec(None, "</f>", prefix="<f=2>")))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_structural_tag_response_format_constrains_the_answer(server, seed):
    fmt = {"type": "structural_tag", "format": STAG}
    text = chat(server, response_format=fmt, seed=seed, temperature=1.0,
                max_tokens=16)["message"]["content"]
    assert re.fullmatch(r"n=[0-9]{3};", text), text
    again = complete(server, structured_outputs={"structural_tag": fmt}, seed=seed,
                     temperature=1.0, max_tokens=16)["text"]
    assert re.fullmatch(r"n=[0-9]{3};", again), again


def test_the_responses_api_refuses_a_structural_tag_format(server):
    reply = httpx.post(f"{server.url}/v1/responses", json={
        "model": "tiny", "input": "hi", "text": {"format": {"type": "structural_tag",
                                                           "format": STAG}}}, timeout=60)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "text.format"
