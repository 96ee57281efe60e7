"""vLLM's guided decoding fields -> the GrammarSpec a request's output must follow.

Chat Completions and Completions accept, as vLLM does, one of:

    guided_json      a JSON schema (an object, or its JSON text): the output is JSON of it
    guided_regex     a regular expression the whole output matches
    guided_choice    a list of strings: the output is exactly one of them
    guided_grammar   an EBNF grammar (xgrammar's dialect, rule `root`)

or vLLM's newer `structured_outputs` object with one of `json`, `regex`, `choice`, `grammar`,
`structural_tag` (below) or `json_object: true` (any JSON object). `guided_decoding_backend`
may name "xgrammar" (what paste uses) or "auto". A regular expression or grammar that does
not parse, two of these fields at once, one of them beside `response_format` json, and the
fields paste does not implement (`guided_whitespace_pattern`, other `structured_outputs`
keys) are 400s naming the field. The output is written compactly (JSON without free
whitespace: engine/grammar.py).

A structural tag (`structured_outputs.structural_tag`, an object or its JSON text, and Chat
Completions' `response_format` of type "structural_tag") is xgrammar's: `{"type":
"structural_tag", "format": {...}}`, whose format may mix free text, constant strings, JSON
of schemas, regexes, grammars and single control tokens (GrammarSpec.structural; its shape is
checked against xgrammar's model here, a token the tokenizer lacks is asked for as its text
by the engine), or the legacy `{"structures": [{"begin", "schema", "end"}], "triggers":
[...]}`: free text in which each trigger opens one of the structures, as strict tool calls are
constrained (each begin must start with a trigger).
"""

from __future__ import annotations

import json
from typing import Any

from paste.engine.grammar import GrammarSpec
from paste.errors import InvalidArgumentError
from paste.server.errors import BadRequestError

_FIELDS = {"guided_json": "json", "guided_regex": "regex", "guided_choice": "choice",
           "guided_grammar": "grammar"}
_STRUCTURED = ("json", "regex", "choice", "grammar", "json_object", "structural_tag")
MAX_CHOICES = 1024


def guided_grammar(body: dict[str, Any]) -> GrammarSpec | None:
    """The GrammarSpec of the request's guided decoding field (None: there is none)."""
    backend = body.get("guided_decoding_backend")
    if backend is not None and backend not in ("xgrammar", "auto"):
        raise BadRequestError("'guided_decoding_backend' must be 'xgrammar' or 'auto' (paste's "
                              "grammars are xgrammar's)", param="guided_decoding_backend",
                              code="unsupported_value")
    if body.get("guided_whitespace_pattern") is not None:
        raise BadRequestError("'guided_whitespace_pattern' is not supported (JSON is written "
                              "without free whitespace)", param="guided_whitespace_pattern",
                              code="unsupported_parameter")
    given = [(name, kind, body[name]) for name, kind in _FIELDS.items()
             if body.get(name) is not None]
    structured = body.get("structured_outputs")
    if structured is not None:
        if not isinstance(structured, dict):
            raise BadRequestError("'structured_outputs' must be an object",
                                  param="structured_outputs")
        for key, value in structured.items():
            if key not in _STRUCTURED:
                raise BadRequestError(f"'structured_outputs.{key}' is not supported",
                                      param=f"structured_outputs.{key}",
                                      code="unsupported_parameter")
            if value is not None and value is not False:
                given.append((f"structured_outputs.{key}", key, value))
    if not given:
        return None
    if len(given) > 1:
        raise BadRequestError("give one of " + ", ".join(f"'{g[0]}'" for g in given),
                              param=given[1][0])
    return _spec(*given[0])


def structural_tag_grammar(value: Any, param: str) -> GrammarSpec:
    """The GrammarSpec of a structural tag (module docstring): an object or its JSON text;
    400s naming `param` (or the part at fault) for anything else."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadRequestError(f"'{param}' is not JSON", param=param) from None
    if not isinstance(value, dict):
        raise BadRequestError(f"'{param}' must be a structural tag object", param=param)
    if "format" in value:
        from xgrammar.structural_tag import StructuralTag

        shape = value["format"]
        try:
            StructuralTag.model_validate({"type": "structural_tag", "format": shape})
        except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError
            first = str(exc).splitlines()
            raise BadRequestError(f"'{param}.format' is not a structural tag format: "
                                  f"{' '.join(first[1:3]).strip()}",
                                  param=f"{param}.format") from None
        return GrammarSpec(structural=json.dumps(shape))
    structures, triggers = value.get("structures"), value.get("triggers")
    if (not isinstance(structures, list) or not structures or not isinstance(triggers, list)
            or not triggers):
        raise BadRequestError(f"'{param}' needs 'format', or 'structures' and 'triggers' "
                              "(non-empty lists)", param=param)
    choices = []
    for i, item in enumerate(structures):
        where = f"{param}.structures[{i}]"
        schema = item.get("schema") if isinstance(item, dict) else None
        if (not isinstance(item, dict) or not isinstance(item.get("begin"), str)
                or not isinstance(item.get("end"), str)
                or not isinstance(schema, dict | None)):
            raise BadRequestError(f"'{where}' must be an object of 'begin' and 'end' strings "
                                  "and a 'schema' object", param=where)
        choices.append(GrammarSpec(None if schema is None else json.dumps(schema),
                                   item["end"], prefix=item["begin"]))
    try:
        return GrammarSpec(triggers=tuple(triggers), choices=tuple(choices))
    except InvalidArgumentError as exc:  # e.g. a begin that starts with no trigger
        raise BadRequestError(f"'{param}': {exc}", param=f"{param}.triggers") from None


def _spec(param: str, kind: str, value: Any) -> GrammarSpec:
    if kind == "structural_tag":
        return structural_tag_grammar(value, param)
    if kind == "json_object":
        if value is not True:
            raise BadRequestError(f"'{param}' must be true", param=param)
        return GrammarSpec()
    if kind == "json":
        schema = value
        if isinstance(value, str):
            try:
                schema = json.loads(value)
            except ValueError:
                raise BadRequestError(f"'{param}' is not JSON", param=param) from None
        if not isinstance(schema, dict):
            raise BadRequestError(f"'{param}' must be a JSON schema object", param=param)
        return GrammarSpec(json.dumps(schema))
    if kind == "choice":
        if (not isinstance(value, list) or not value or len(value) > MAX_CHOICES
                or any(not isinstance(c, str) or not c for c in value)):
            raise BadRequestError(f"'{param}' must be a list of 1 to {MAX_CHOICES} non-empty "
                                  "strings", param=param)
        rule = " | ".join(json.dumps(c, ensure_ascii=False) for c in dict.fromkeys(value))
        return GrammarSpec(ebnf=f"root ::= {rule}")
    if not isinstance(value, str) or not value:
        raise BadRequestError(f"'{param}' must be a non-empty string", param=param)
    import xgrammar as xgr

    try:  # parsed here, so a mistake is a 400 naming the field (compiled by the engine)
        if kind == "regex":
            xgr.Grammar.from_regex(value)
        else:
            xgr.Grammar.from_ebnf(value)
    except Exception as exc:  # noqa: BLE001 - xgrammar raises RuntimeError and its own types
        what = "regular expression" if kind == "regex" else "EBNF grammar"
        raise BadRequestError(f"'{param}' is not a valid {what}: {exc}", param=param) from None
    return GrammarSpec(regex=value) if kind == "regex" else GrammarSpec(ebnf=value)
