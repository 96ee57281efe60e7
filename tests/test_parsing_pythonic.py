"""Pythonic format: the incremental scanner and the safe literal conversion."""

from __future__ import annotations

import pytest

from paste.parsing import ToolCall, parse_tool_calls
from paste.parsing.calls import CallShapeError
from paste.parsing.json_scan import DONE, FAILED, MORE
from paste.parsing.pythonic import calls_from_python
from paste.parsing.pythonic_scan import PythonicScanner


def _scan(text: str):
    scanner = PythonicScanner()
    stop = scanner.feed(text, 0)
    return scanner.status, stop, scanner.reason, scanner.call_like


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[f()] x", (DONE, 5, "", True)),
        ('[a.b ( x = \'])\' ) , g(y="\\"")]', (DONE, 30, "", True)),
        ("[f(a=[1, (2, {'k': 3})])]", (DONE, 25, "", True)),
        ("[f(a=1", (MORE, 6, "", True)),
        ("[1]", (FAILED, 1, "expected a function name, got '1'", False)),
        ("[see docs]", (FAILED, 5, "expected '(' after a function name, got 'd'", False)),
        ("[a, b]", (FAILED, 2, "expected '(' after a function name, got ','", False)),
        ("[]", (FAILED, 1, "expected a function name, got ']'", False)),
        ("[f(a=1]", (FAILED, 6, "mismatched ']'", True)),
        ("[f(a<1)]", (FAILED, 4, "unexpected '<' in call arguments", True)),
        ("[f() g()]", (FAILED, 5, "expected ',' or ']' after a call, got 'g'", True)),
        ("[f(),]", (DONE, 6, "", True)),
    ],
)
def test_scanner_stops(text: str, expected: tuple) -> None:
    assert _scan(text) == expected


def test_scanner_state_survives_chunk_boundaries_inside_escapes() -> None:
    scanner = PythonicScanner()
    for piece in ["[f(s='a\\", "'", " b')", "]"]:
        stop = scanner.feed(piece, 0)
    assert (scanner.status, stop) == (DONE, 1)


def test_literals_convert_to_json_types() -> None:
    source = "[f(t=(1, 2.5), d={'a': None, 'b': [True]}, n=-3, s='x\\ny', e=1e2, r=r'\\d')]"
    assert calls_from_python(source) == [
        ToolCall(
            "f",
            {
                "t": [1, 2.5],
                "d": {"a": None, "b": [True]},
                "n": -3,
                "s": "x\ny",
                "e": 100.0,
                "r": "\\d",
            },
        )
    ]


@pytest.mark.parametrize(
    "source, message",
    [
        ("[f(1)]", "f: positional arguments are not supported"),
        ("[f(**k)]", "f: ** arguments are not supported"),
        ("[f(x=y)]", "f: argument 'x' is not a literal"),
        ("[f(x=__import__('os').system('true'))]", "f: argument 'x' is not a literal"),
        ("[f(x={1, 2})]", "f: set is not a JSON value"),
        ("[f(x=b'a')]", "f: bytes is not a JSON value"),
        ("[f(x=1j)]", "f: complex is not a JSON value"),
        ("[f(x=1e999)]", "f: inf is not a JSON number"),
        ("[f(x={1: 2})]", "f: dict keys must be strings"),
        ("[f(x=...)]", "f: ellipsis is not a JSON value"),
        ("[f()[0]()]", "called object is not a name"),
        ("[1]", "list item is not a call"),
        ("[]", "expected a non-empty list of calls"),
        ("f()", "expected a non-empty list of calls"),
        ("[f(a=1, a=2)]", "f: argument 'a' given twice"),
        (
            "[f(a=1]",
            "invalid Python: closing parenthesis ']' does not match opening parenthesis '('",
        ),
    ],
)
def test_rejections(source: str, message: str) -> None:
    with pytest.raises(CallShapeError) as info:
        calls_from_python(source)
    assert str(info.value) == message


def test_invalid_escape_in_a_string_is_not_a_warning() -> None:
    # With warnings as errors (pytest config) a leaked SyntaxWarning would fail this test.
    out = parse_tool_calls("[read(path='C:\\data\\sub')]", format="pythonic")
    assert out.calls == [ToolCall("read", {"path": "C:\\data\\sub"})]
