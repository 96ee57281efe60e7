"""A tool call as the text a model writes in a format, the format's call parts, and the
grammar of calls a model may open (strict tool calls).

`call_text` renders calls (OpenAI form) as model output: what the server shows a chat
template that cannot render tool_calls, and what a client's replayed conversation must match.
`call_parts` is a format's call around its name and arguments (hermes: `<tool_call>\n{"name":
"`, `", "arguments": `, `}\n</tool_call>`), from which the forced call prefix of tool_choice
"required" / a named function and the grammars are built: `arguments_spec` is the grammar of
one call's arguments (JSON of the tool's schema; keyword arguments of it for the pythonic
format, parsing/pythonic_grammar.py), and `calls_spec` the GrammarSpec in which every call the
model opens is a whole call of one of the given tools (engine/grammar.py, triggers): used by
the HTTP APIs for tools marked `strict` and by native sessions with strict_calls.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from paste.engine.grammar import GrammarSpec
from paste.parsing.mistral import ARGS, TOOL_CALLS
from paste.parsing.pythonic_grammar import arguments_ebnf, call_list_ebnf


def _python_literal(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_python_literal(k)}: {_python_literal(v)}"
                               for k, v in value.items()) + "}"  # fmt: skip
    if isinstance(value, list):
        return "[" + ", ".join(_python_literal(v) for v in value) + "]"
    return repr(value)


def call_text(calls: list[dict[str, Any]], parser_format: str) -> str:
    """Assistant tool calls (OpenAI form) as model output text in `parser_format`."""
    decoded = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]
    if parser_format == "hermes":
        return "\n".join(
            "<tool_call>\n" + json.dumps({"name": n, "arguments": a}, ensure_ascii=False)
            + "\n</tool_call>" for n, a in decoded
        )  # fmt: skip
    if parser_format == "mistral_args":
        return "".join(TOOL_CALLS + n + ARGS + json.dumps(a, ensure_ascii=False)
                       for n, a in decoded)
    if parser_format == "mistral":
        return TOOL_CALLS + json.dumps([{"name": n, "arguments": a} for n, a in decoded],
                                       ensure_ascii=False)
    if parser_format == "pythonic":
        return "[" + ", ".join(
            f"{n}(" + ", ".join(f"{k}={_python_literal(v)}" for k, v in a.items()) + ")"
            for n, a in decoded
        ) + "]"  # fmt: skip
    key = "parameters" if parser_format == "llama3_json" else "arguments"
    objects = [{"name": n, key: a} for n, a in decoded]
    if parser_format == "llama3_json":
        return "; ".join(json.dumps(o, ensure_ascii=False) for o in objects)
    return json.dumps(objects[0] if len(objects) == 1 else objects, ensure_ascii=False)


_NAME = "paste_tool_name"  # a placeholder name: no format escapes or splits it


def call_parts(parser_format: str) -> tuple[str, str, str]:
    """A call's text in the format around its name and its arguments: (before the name,
    between the name and the arguments, after them); hermes: (`<tool_call>\n{"name": "`,
    `", "arguments": `, `}\n</tool_call>`), pythonic: (`[`, `(`, `)]`), mistral_args:
    (`[TOOL_CALLS]`, `[ARGS]`, ``)."""
    text = call_text([{"function": {"name": _NAME, "arguments": "{}"}}], parser_format)
    head, _, tail = text.partition(_NAME)
    empty = tail.find("{}")  # where the (empty) arguments are written
    if empty < 0:  # pythonic: name(...)
        cut = tail.index("(") + 1
        return head, tail[:cut], tail[cut:]
    return head, tail[:empty], tail[empty + 2:]


def parameters_schema(tool: dict[str, Any]) -> str:
    """A function tool's `parameters` as the JSON schema text of its arguments (any object
    when it has none)."""
    return json.dumps(tool.get("parameters") or {"type": "object"})


def arguments_spec(tool: dict[str, Any], parser_format: str, suffix: str,
                   prefix: str = "") -> GrammarSpec:
    """`prefix`, a call's arguments of `tool`'s parameter schema, then `suffix`: JSON, or for
    the pythonic format keyword arguments (`city='Paris', days=3`, pythonic_grammar.py)."""
    if parser_format == "pythonic":
        return GrammarSpec(ebnf=arguments_ebnf(tool.get("parameters")), suffix=suffix,
                           prefix=prefix)
    return GrammarSpec(parameters_schema(tool), suffix, prefix=prefix)


def _call_list_schema(tools: list[dict[str, Any]],
                      strict: frozenset[str] | None) -> dict[str, Any]:
    """A JSON list of one or more calls of `tools`: a strict one's (`strict` names; None:
    all) arguments of its parameter schema, another's any object."""
    def arguments(tool: dict[str, Any]) -> Any:
        if strict is not None and tool["name"] not in strict:
            return {"type": "object"}
        return json.loads(parameters_schema(tool))

    return {"type": "array", "minItems": 1, "items": {"anyOf": [
        {"type": "object", "properties": {"name": {"const": t["name"]},
                                          "arguments": arguments(t)},
         "required": ["name", "arguments"], "additionalProperties": False}
        for t in tools]}}


def mistral_args_calls(tools: list[dict[str, Any]], strict: frozenset[str] | None,
                       more: bool) -> GrammarSpec:
    """One call of `tools` in the mistral_args layout, as the text after `[TOOL_CALLS]`:
    a tool's name, the `[ARGS]` control token, its arguments (a strict tool's, `strict`
    names, None: all, of its parameter schema; another's any object); with `more`, then
    any number of further `[TOOL_CALLS]` calls. A structural tag (GrammarSpec.structural):
    no grammar over text can hold a control token."""
    def arguments(tool: dict[str, Any]) -> dict[str, Any]:
        schema = ({"type": "object"} if strict is not None and tool["name"] not in strict
                  else json.loads(parameters_schema(tool)))
        return {"type": "json_schema", "max_whitespace_cnt": 1, "json_schema": schema}

    one = {"type": "or", "elements": [{"type": "sequence", "elements": [
        {"type": "const_string", "value": t["name"]}, {"type": "token", "token": ARGS},
        arguments(t)]} for t in tools]}
    if more:
        one = {"type": "sequence", "elements": [one, {"type": "star", "content": {
            "type": "sequence", "elements": [{"type": "token", "token": TOOL_CALLS}, one]}}]}
    return GrammarSpec(structural=json.dumps(one))


def calls_spec(tools: list[dict[str, Any]], strict: frozenset[str] | None,
               parser_format: str) -> GrammarSpec | None:
    """Free text in which every call the model opens is a whole call of one of `tools`
    (OpenAI function dicts: name, parameters): a strict tool's (`strict` names; None: all)
    with arguments of its parameter schema, another's with any JSON object, then the call's
    closing text. A call opens at the format's opening tag (`<tool_call>`: the name must then
    be one of the tools'); the bare JSON formats have none, and `{"name": "` also starts plain
    JSON content, so there a call opens at `{"name": "<one of the tools>"` and any other JSON
    stays free text. A pythonic call list opens at `[<one of the tools>(`, and its calls are
    then the tools' (`[f(a=1), g()]`), a strict one's with keyword arguments of its schema,
    another's with any; a `[` that starts no such list stays free text. The mistral format's
    calls open with the `[TOOL_CALLS]` control token, which no grammar over text can hold: the
    grammar starts at that token (GrammarSpec.start_token) and is the JSON list of calls that
    follows it, each `{"name": <a tool>, "arguments": ...}`; mistral_args's is its calls
    `<a tool>[ARGS]{...}`, each further one after another `[TOOL_CALLS]`, control tokens
    held by a structural tag (mistral_args_calls). None for no tools."""
    if not tools:
        return None
    if parser_format == "mistral_args":
        return replace(mistral_args_calls(tools, strict, more=True), start_token=TOOL_CALLS)
    if parser_format == "mistral":
        return GrammarSpec(json.dumps(_call_list_schema(tools, strict)), start_token=TOOL_CALLS)
    head, between, suffix = call_parts(parser_format)
    if parser_format == "pythonic":
        listed = [(t["name"], t.get("parameters") if strict is None or t["name"] in strict
                   else None) for t in tools]
        opens = [head + t["name"] + between for t in tools]
        return GrammarSpec(triggers=tuple(opens), choices=tuple(
            GrammarSpec(ebnf=call_list_ebnf(i, listed), suffix=suffix[1:], prefix=opening)
            for i, opening in enumerate(opens)))
    opening = head[: head.index("{")].strip()
    triggers = (opening,) if opening else tuple(head + t["name"] + between[:1] for t in tools)

    def schema(tool: dict[str, Any]) -> str | None:
        return None if strict is not None and tool["name"] not in strict \
            else parameters_schema(tool)

    return GrammarSpec(triggers=triggers, choices=tuple(
        GrammarSpec(schema(t), suffix, prefix=head + t["name"] + between) for t in tools))
