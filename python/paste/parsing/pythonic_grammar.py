"""The grammar of a pythonic call's arguments: a JSON schema as xgrammar EBNF over Python
literals, so tool_choice and strict calls constrain the pythonic format as they do JSON ones.

`[get_weather(city='Paris', days=3)]`: between the parentheses come keyword arguments, one
per property of the tool's `parameters`, in the schema's order, each required one present and
each optional one present or left out, every value a Python literal of its property's schema:
a string in single or double quotes, an int, a float, True/False, None, a list or a dict (the
literals the pythonic parser reads with ast.literal_eval). `enum` and `const` allow exactly
their values (a string in either quote style); `type` (one or a list), `anyOf` / `oneOf`,
`items`, `properties` / `required` (a dict's keys in order, quoted) and local `$ref`s
(`#/$defs/...`, `#/definitions/...`) are followed; any other schema allows any literal. A
parameters schema without properties allows any keyword arguments. A `$ref` that resolves to
nothing in the schema names a rule the grammar lacks (MISSING_REF), so compiling it fails as
xgrammar's own JSON schema grammar fails on it: the same 400 in every format. Whitespace: at most one
space after a comma or a colon, as models write `f(a=1, b='x')`, never runs of it.
"""

from __future__ import annotations

import json
from typing import Any

_BASE = r"""
str ::= "\"" dq* "\"" | "'" sq* "'"
dq ::= [^"\\\n] | "\\" esc
sq ::= [^'\\\n] | "\\" esc
esc ::= ["'\\/bfnrt0] | "u" hex hex hex hex | "x" hex hex
hex ::= [0-9a-fA-F]
int ::= "-"? ("0" | [1-9] [0-9]*)
num ::= int ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
bool ::= "True" | "False"
none ::= "None"
sp ::= " "?
value ::= str | num | bool | none | list | dict
list ::= "[" (value ("," sp value)*)? "]"
dict ::= "{" (str ":" sp value ("," sp str ":" sp value)*)? "}"
ident ::= [a-zA-Z_] [a-zA-Z0-9_]*
kwargs ::= (ident "=" value ("," sp ident "=" value)*)?
"""

MISSING_REF = "unresolved_schema_ref"  # a rule no grammar defines
_TYPES = {"string": "str", "integer": "int", "number": "num", "boolean": "bool",
          "null": "none", "array": "list", "object": "dict"}


def _lit(text: str) -> str:
    """An EBNF string literal matching `text` exactly."""
    return json.dumps(text, ensure_ascii=False)


def _python_forms(value: Any) -> list[str]:
    """The texts a model may write for the JSON value `value` as a Python literal."""
    if isinstance(value, str):
        return list(dict.fromkeys((repr(value), json.dumps(value, ensure_ascii=False))))
    if value is None or isinstance(value, bool):
        return [repr(value)]
    if isinstance(value, (int, float)):
        return [repr(value)]
    return []  # lists and dicts in an enum: left to the generic literal


class _Builder:
    """The rules of one schema, named `<prefix>r<n>` (several tools' rules share a grammar)."""

    def __init__(self, root: dict[str, Any], prefix: str = "") -> None:
        self.root = root
        self.prefix = prefix
        self.rules: list[str] = []
        self.refs: dict[str, str] = {}
        self.count = 0

    def _name(self, n: int) -> str:
        return f"{self.prefix}r{n}"

    def _rule(self, body: str) -> str:
        name = self._name(self.count)
        self.count += 1
        self.rules.append(f"{name} ::= {body}")
        return name

    def value(self, schema: Any, depth: int = 0) -> str:
        """The name of a rule (or a base rule) of the values `schema` allows."""
        if not isinstance(schema, dict) or depth > 32:
            return "value"
        if "$ref" in schema:
            return self._ref(schema["$ref"], depth)
        if "const" in schema:
            return self._enum([schema["const"]])
        if "enum" in schema and isinstance(schema["enum"], list):
            return self._enum(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self._rule(" | ".join(self.value(s, depth + 1) for s in schema[key]))
        kind = schema.get("type")
        if isinstance(kind, list):
            names = [self.value({**schema, "type": k}, depth + 1) for k in kind]
            return self._rule(" | ".join(names)) if names else "value"
        if kind == "array" and isinstance(schema.get("items"), dict):
            item = self.value(schema["items"], depth + 1)
            return self._rule(f'"[" ({item} ("," sp {item})*)? "]"')
        if kind == "object" or (kind is None and "properties" in schema):
            props = schema.get("properties")
            if isinstance(props, dict) and props:
                return self.fields(schema, depth, kwargs=False)
            return "dict"
        return _TYPES.get(kind, "value") if isinstance(kind, str) else "value"

    def _enum(self, values: list[Any]) -> str:
        forms = [f for v in values for f in _python_forms(v)]
        if len(forms) < len(values) or not forms:
            return "value"
        return self._rule(" | ".join(_lit(f) for f in forms))

    def _ref(self, ref: Any, depth: int) -> str:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return MISSING_REF
        hit = self.refs.get(ref)
        if hit is not None:
            return hit
        target: Any = self.root
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                return MISSING_REF
            target = target[part]
        # named before it is built, so a recursive schema refers to itself
        name = self.refs[ref] = self._name(self.count)
        self.count += 1
        self.rules.append(f"{name} ::= {self.value(target, depth + 1)}")
        return name

    def fields(self, schema: dict[str, Any], depth: int, kwargs: bool) -> str:
        """The properties in order (`name=value` for kwargs, `'name': value` in a dict), the
        required ones always, an optional one present or not: rule (i, first) derives the
        properties from i on, `first` when none was written before them."""
        props = list(schema["properties"].items())
        required = set(schema.get("required") or ())
        items = []
        for key, sub in props:
            value = self.value(sub, depth + 1)
            if kwargs:
                items.append(f"{_lit(key + '=')} {value}")
            else:
                items.append(f"({_lit(repr(key))} | {_lit(json.dumps(key))}) \":\" sp {value}")
        base = self.count
        self.count += 2 * (len(props) + 1)

        def name(i: int, first: bool) -> str:
            return self._name(base + 2 * i + first)

        for i in range(len(props), -1, -1):
            for first in (False, True):
                if i == len(props):
                    body = '""'
                else:
                    sep = "" if first else '"," sp '
                    present = f"{sep}{items[i]} {name(i + 1, False)}"
                    key = props[i][0]
                    body = present if key in required else \
                        f"({present}) | {name(i + 1, first)}"
                self.rules.append(f"{name(i, first)} ::= {body}")
        if kwargs:
            return name(0, True)
        return self._rule(f'"{{" {name(0, True)} "}}"')


def _arguments(parameters: dict[str, Any] | None, prefix: str) -> tuple[str, list[str]]:
    """(the rule of a tool's keyword arguments, the rules it needs), named with `prefix`."""
    schema = parameters if isinstance(parameters, dict) else {}
    builder = _Builder(schema, prefix)
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        return builder.fields(schema, 0, kwargs=True), builder.rules
    return "kwargs", builder.rules


def arguments_ebnf(parameters: dict[str, Any] | None) -> str:
    """xgrammar EBNF whose `root` is the keyword arguments of a call of a tool with these
    `parameters` (its JSON schema; None or no properties: any keyword arguments)."""
    root, rules = _arguments(parameters, "")
    return "\n".join([f"root ::= {root}", *rules]) + _BASE


def call_list_ebnf(first: int, tools: list[tuple[str, dict[str, Any] | None]]) -> str:
    """xgrammar EBNF of the rest of a call list opened by `[<tools[first]'s name>(`: that
    call's keyword arguments and `)`, then any more calls of `tools` (name, parameters or
    None for any keyword arguments), each `, name(...)`; the list's `]` is the caller's."""
    names, rules = [], []
    for i, (_name, parameters) in enumerate(tools):
        root, own = _arguments(parameters, f"t{i}_")
        names.append(root)
        rules += own
    calls = " | ".join(f"{_lit(name + '(')} {names[i]} \")\"" for i, (name, _p)
                       in enumerate(tools))
    return "\n".join([f'root ::= {names[first]} ")" ("," sp call)*', f"call ::= {calls}",
                      *rules]) + _BASE
