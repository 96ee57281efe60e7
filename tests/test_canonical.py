"""canonical_call: the project-wide definition of "the same call", with exact strings."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from paste.errors import InvalidArgumentError
from paste.parsing import NonJsonValueError, ToolCall, canonical_call, canonical_json


@pytest.mark.parametrize(
    "name, arguments, expected",
    [
        ("get_weather", {"unit": "C", "city": "Paris"}, 'get_weather{"city":"Paris","unit":"C"}'),
        ("ping", {}, "ping{}"),
        ("f", {"x": 1.0}, 'f{"x":1}'),
        ("f", {"x": -0.0}, 'f{"x":0}'),
        ("f", {"x": -0}, 'f{"x":0}'),
        ("f", {"x": 2.5, "y": -3.25}, 'f{"x":2.5,"y":-3.25}'),
        ("f", {"x": 1e3, "y": 1e-7}, 'f{"x":1000,"y":1e-07}'),
        ("f", {"x": 1e20}, 'f{"x":100000000000000000000}'),
        ("f", {"t": True, "f": False, "n": None}, 'f{"f":false,"n":null,"t":true}'),
        (
            "f",
            {"b": {"z": [1.0, {"y": 2, "x": 3}], "a": ()}},
            'f{"b":{"a":[],"z":[1,{"x":3,"y":2}]}}',
        ),
        ("f", {"s": 'q"uote\\ and\nnewline'}, 'f{"s":"q\\"uote\\\\ and\\nnewline"}'),
        ("f", {"s": "café ☃"}, 'f{"s":"café ☃"}'),
        ("f", {"s": "a b", "k": " "}, 'f{"k":" ","s":"a b"}'),
        ("f", OrderedDict([("b", 1), ("a", 2)]), 'f{"a":2,"b":1}'),
        ("f", '{"b": 1.0, "a": [true]}', 'f{"a":[true],"b":1}'),
    ],
)
def test_exact_forms(name: str, arguments, expected: str) -> None:
    assert canonical_call(name, arguments) == expected


def test_same_call_means_equal_canonical_forms() -> None:
    a = canonical_call("search", {"q": "x", "n": 10, "opts": {"safe": True, "lang": "en"}})
    b = canonical_call("search", '{ "opts": {"lang": "en", "safe": true}, "n": 10.0, "q": "x" }')
    assert a == b == 'search{"n":10,"opts":{"lang":"en","safe":true},"q":"x"}'
    # A boolean is not a number, and a different name is a different call.
    assert canonical_call("search", {"n": True}) != canonical_call("search", {"n": 1})
    assert canonical_call("Search", {}) != canonical_call("search", {})


def test_tool_call_property_and_nested_json() -> None:
    assert ToolCall("f", {"b": [2.0], "a": "x"}).canonical == 'f{"a":"x","b":[2]}'
    assert canonical_json([{"b": 1, "a": -0.0}, 3.0]) == '[{"a":0,"b":1},3]'


@pytest.mark.parametrize(
    "name, arguments, message",
    [
        ("f", {"x": float("nan")}, "nan is not a JSON number"),
        ("f", {"x": float("inf")}, "inf is not a JSON number"),
        ("f", {"x": {1, 2}}, "set is not a JSON value"),
        ("f", {"x": b"a"}, "bytes is not a JSON value"),
        ("f", {1: "a"}, "object key 1 is not a str"),
        ("f", [1], "arguments must be a JSON object, got list"),
        ("f", "[1]", "arguments must be a JSON object, got list"),
        (
            "f",
            "{",
            "arguments string is not valid JSON: "
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (3, {}, "tool name must be a str, got int"),
    ],
)
def test_rejects_non_json(name, arguments, message: str) -> None:
    with pytest.raises(NonJsonValueError) as info:
        canonical_call(name, arguments)
    assert str(info.value) == message
    assert isinstance(info.value, InvalidArgumentError)


def test_too_deep_is_a_typed_error() -> None:
    value: list = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(NonJsonValueError):
        canonical_call("f", {"x": value})
