"""vLLM's guided decoding fields -> the GrammarSpec a request's output must follow.

Chat Completions and Completions accept, as vLLM does, one of:

    guided_json      a JSON schema (an object, or its JSON text): the output is JSON of it
    guided_regex     a regular expression the whole output matches
    guided_choice    a list of strings: the output is exactly one of them
    guided_grammar   an EBNF grammar (xgrammar's dialect, rule `root`)

or vLLM's newer `structured_outputs` object with one of `json`, `regex`, `choice`, `grammar`
or `json_object: true` (any JSON object). `guided_decoding_backend` may name "xgrammar" (what
paste uses) or "auto". A regular expression or grammar that does not parse, two of these
fields at once, one of them beside `response_format` json, and the fields paste does not
implement (`guided_whitespace_pattern`, other `structured_outputs` keys) are 400s naming the
field. The output is written compactly (JSON without free whitespace: engine/grammar.py).
"""

from __future__ import annotations

import json
from typing import Any

from paste.engine.grammar import GrammarSpec
from paste.server.errors import BadRequestError

_FIELDS = {"guided_json": "json", "guided_regex": "regex", "guided_choice": "choice",
           "guided_grammar": "grammar"}
_STRUCTURED = ("json", "regex", "choice", "grammar", "json_object")
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


def _spec(param: str, kind: str, value: Any) -> GrammarSpec:
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
