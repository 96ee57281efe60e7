"""JsonScanner: exact stop positions and statuses, and agreement with json.loads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paste.parsing.json_scan import DONE, FAILED, MAX_DEPTH, MORE, JsonScanner


def _scan(text: str, allow_array: bool = False, pieces: list[str] | None = None):
    scanner = JsonScanner(allow_array=allow_array)
    offset, stop = 0, None
    for piece in pieces if pieces is not None else [text]:
        j = scanner.feed(piece, 0)
        if scanner.status != MORE:
            stop = offset + j
            break
        assert j == len(piece)
        offset += len(piece)
    return scanner.status, stop, scanner.reason, scanner.call_like


@pytest.mark.parametrize(
    "text, status, stop, reason, call_like",
    [
        ('{"a": 1} tail', DONE, 8, "", True),
        ("{}", DONE, 2, "", False),
        ('{"s": "}\\"{"}x', DONE, 13, "", True),
        ('{"a": [1, {"b": null}], "c": true}', DONE, 34, "", True),
        ('{"u": "\\u00e9\\n"}', DONE, 17, "", True),
        ('{"a": 1', MORE, None, "", True),
        ("{x}", FAILED, 1, "expected an object key, got 'x'", False),
        ('{"a" 1}', FAILED, 5, "expected ':', got '1'", True),
        ('{"a": 01}', FAILED, 8, "invalid number '01'", True),
        ('{"a": tru}', FAILED, 9, "invalid literal, expected 'true'", True),
        ('{"a": NaN}', FAILED, 6, "expected a JSON value, got 'N'", True),
        ('{"a": 1,}', FAILED, 8, "expected an object key, got '}'", True),
        ('{"a": [1}', FAILED, 8, "expected ',' or a closing bracket, got '}'", True),
        ('{"a": "\\x"}', FAILED, 8, "invalid escape '\\x'", True),
        ('{"a": "\\u12g4"}', FAILED, 11, "invalid \\u escape digit 'g'", True),
        ("[1, 2]", FAILED, 0, "expected a JSON object, got '['", False),
        ('{"a": -}', FAILED, 7, "invalid number '-'", True),
        ('{"a": 1.5e+3}', DONE, 13, "", True),
    ],
)
def test_exact_stop(text, status, stop, reason, call_like) -> None:
    assert _scan(text) == (status, stop, reason, call_like)
    # Fed one character at a time the scanner stops at the same place.
    assert _scan(text, pieces=list(text)) == (status, stop, reason, call_like)


def test_arrays_when_allowed() -> None:
    assert _scan("[1, [], {}] x", allow_array=True) == (DONE, 11, "", False)
    assert _scan("[]", allow_array=True) == (DONE, 2, "", False)
    assert _scan("[1 2]", allow_array=True) == (
        FAILED,
        3,
        "expected ',' or a closing bracket, got '2'",
        False,
    )


def test_number_split_across_chunks() -> None:
    assert _scan('{"n": 12345}', pieces=['{"n": 12', "3", "45", "}"]) == (DONE, 12, "", True)
    assert _scan('{"n": 1', pieces=['{"n": 1']) == (MORE, None, "", True)


def test_depth_limit() -> None:
    deep_ok = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert _scan("{" + '"a": ' + deep_ok + "}") == (DONE, 2 * MAX_DEPTH + 5, "", True)
    too_deep = "{" + '"a": ' + "[" * MAX_DEPTH
    assert _scan(too_deep) == (FAILED, 5 + MAX_DEPTH, f"nesting deeper than {MAX_DEPTH}", True)


def test_spent_scanner_consumes_nothing() -> None:
    scanner = JsonScanner()
    assert scanner.feed("{}", 0) == 2
    assert scanner.feed("{}", 0) == 0
    assert scanner.status == DONE


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=8,
)


def _loads(text: str):
    return json.loads(text, strict=False, parse_constant=lambda name: 1 / 0)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.dictionaries(st.text(max_size=5), _json_values, max_size=5),
    st.booleans(),
    st.sampled_from([None, 0, 2]),
    st.integers(min_value=1, max_value=9),
)
def test_every_dumped_object_completes_at_its_end(value, ascii_only, indent, chunk) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    pieces = [text[i : i + chunk] for i in range(0, len(text), chunk)]
    assert _scan(text + " rest", pieces=pieces + [" rest"])[:2] == (DONE, len(text))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet="{}[]\",:\\ -0123456789.eEtrufalsn\n\tu'x", max_size=40))
def test_agrees_with_json_loads(tail: str) -> None:
    text = "{" + tail
    status, stop, _, _ = _scan(text)
    if status == DONE:
        assert isinstance(_loads(text[:stop]), dict)
    else:  # FAILED or MORE: no extension of this prefix is needed to see the whole text fail
        with pytest.raises((ValueError, ZeroDivisionError)):
            _loads(text)
