"""Property tests: any text, any chunking, any format -> no exception, streaming == one-shot.

Texts are built from the characters and markers that drive the parsers (tags, brackets,
quotes, escapes, fences, separators) mixed with arbitrary text, and from the golden and
project cases with random edits (delete, insert, replace, truncate). Hypothesis runs
derandomized with a bounded number of examples so CI is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from paste.parsing import get_parser_names, parse_tool_calls
from paste.parsing.replay import replay, stream_problems

_REPO = Path(__file__).resolve().parents[1]
_CASE_FILES = [
    _REPO.parent / "shared" / "golden" / "tool_calls.jsonl",
    _REPO / "tests" / "data" / "parsing_cases.jsonl",
]
_TEXTS = [
    (case["format"], case["text"])
    for path in _CASE_FILES
    if path.exists()
    for case in map(json.loads, path.read_text(encoding="utf-8").splitlines())
]

_TOKENS = [
    "<tool_call>",
    "</tool_call>",
    "<tool_",
    "<",
    "/",
    ">",
    "<|python_tag|>",
    "<|python_start|>",
    "<|python_end|>",
    "[TOOL_CALLS]",
    "[ARGS]",
    "[CALL_ID]",
    "[TOOL_",
    "<|",
    "```",
    "```json\n",
    "json",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    '"',
    "'",
    "\\",
    "\\u00e9",
    ":",
    ",",
    ";",
    "=",
    ".",
    "-",
    "1",
    "0",
    "2.5e3",
    "true",
    "null",
    "tru",
    "NaN",
    "name",
    '"name"',
    '"arguments"',
    '"parameters"',
    ': "f"',
    "f",
    "get_weather",
    "x",
    " ",
    "\n",
    "\t",
    "é",
    "☃",
]
_TEXT = st.lists(st.sampled_from(_TOKENS) | st.text(max_size=3), max_size=40).map("".join)
_SETTINGS = settings(max_examples=200, deadline=None, derandomize=True)


def _check(text: str, fmt: str, cuts: list[int]) -> None:
    expected = parse_tool_calls(text, format=fmt)
    if not expected.calls:  # only call syntax is ever dropped
        assert expected.content == text
    rest = iter(text)  # content is a subsequence of the text: nothing is invented
    assert all(ch in rest for ch in expected.content)
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    for pieces in ([text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], list(text)):
        events, final = replay(pieces, fmt)
        assert final == expected, pieces
        assert stream_problems(events, final) == [], pieces


@_SETTINGS
@given(_TEXT, st.sampled_from(get_parser_names()), st.lists(st.integers(0, 200), max_size=8))
def test_random_text_streams_like_one_shot(text: str, fmt: str, cuts: list[int]) -> None:
    _check(text, fmt, cuts)


@st.composite
def _mutated_case(draw: st.DrawFn) -> tuple[str, str]:
    fmt, text = draw(st.sampled_from(_TEXTS))
    chars = list(text)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        pos = draw(st.integers(0, len(chars)))
        if op == "delete" and pos < len(chars):
            del chars[pos]
        elif op == "insert":
            chars.insert(pos, draw(st.sampled_from(_TOKENS)))
        elif op == "replace" and pos < len(chars):
            chars[pos] = draw(st.sampled_from(_TOKENS))
        elif op == "truncate":
            del chars[pos:]
    return draw(st.sampled_from([fmt, *get_parser_names()])), "".join(chars)


@_SETTINGS
@given(_mutated_case(), st.lists(st.integers(0, 300), max_size=8))
def test_mutated_cases_stream_like_one_shot(case: tuple[str, str], cuts: list[int]) -> None:
    fmt, text = case
    _check(text, fmt, cuts)


def test_case_files_were_loaded() -> None:
    assert len(_TEXTS) >= 40
