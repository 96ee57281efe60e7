"""StreamingToolCallParser: exact event sequences, hold-back, lifetime and typed errors."""

from __future__ import annotations

import json

import pytest

from paste.errors import InvalidArgumentError
from paste.parsing import (
    ContentDelta,
    ParsedOutput,
    ParserClosedError,
    StreamingToolCallParser,
    ToolCall,
    ToolCallDelta,
    ToolCallParseError,
    UnknownFormatError,
    get_parser_names,
    hermes,
    parse_tool_calls,
)
from paste.parsing.json_scan import JsonScanner
from paste.parsing.replay import stream_problems


def test_parser_names() -> None:
    assert get_parser_names() == ["hermes", "json", "llama3_json", "mistral", "mistral_args",
                                  "pythonic"]


def test_unknown_format_is_a_typed_value_error() -> None:
    with pytest.raises(UnknownFormatError) as info:
        StreamingToolCallParser(format="xml")
    assert str(info.value) == (
        "unknown tool-call format 'xml'; known formats: hermes, json, llama3_json, mistral, "
        "mistral_args, pythonic"
    )
    assert isinstance(info.value, InvalidArgumentError)
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownFormatError):
        parse_tool_calls("x", format="Hermes")


def test_hermes_events_exact() -> None:
    p = StreamingToolCallParser(format="hermes")
    assert p.feed("Let me check. <tool") == [ContentDelta("Let me check. ")]
    assert p.feed('_call>\n{"name": "get_weather", ') == []
    assert p.feed('"arguments": {"city": "Paris"}') == []
    # The call is announced the moment its JSON closes, before the closing tag arrives.
    assert p.feed("}\n</tool") == [
        ToolCallDelta(index=0, name="get_weather", arguments='{"city": "Paris"}')
    ]
    assert p.feed("_call> Done") == [ContentDelta(" Done")]
    assert p.close() == []
    assert p.finish() == ParsedOutput(
        content="Let me check.  Done",
        calls=[ToolCall("get_weather", {"city": "Paris"})],
        errors=[],
    )


def test_held_back_prefix_is_released_when_it_stops_matching() -> None:
    p = StreamingToolCallParser(format="hermes")
    assert p.feed("a <tool_ca") == [ContentDelta("a ")]
    assert p.feed("r b") == [ContentDelta("<tool_car b")]
    assert p.feed("<") == []
    assert p.close() == [ContentDelta("<")]
    assert p.finish().content == "a <tool_car b<"


def test_two_calls_and_content_in_one_feed() -> None:
    text = (
        'A<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>B'
        '<tool_call>{"name": "b", "arguments": {"y": [true, null]}}</tool_call>C'
    )
    p = StreamingToolCallParser(format="hermes")
    assert p.feed(text) == [
        ContentDelta("A"),
        ToolCallDelta(0, "a", '{"x": 1}'),
        ContentDelta("B"),
        ToolCallDelta(1, "b", '{"y": [true, null]}'),
        ContentDelta("C"),
    ]
    assert p.calls == [ToolCall("a", {"x": 1}), ToolCall("b", {"y": [True, None]})]


def test_fragments_are_json_dumps_of_arguments_with_non_ascii_kept() -> None:
    out = []
    p = StreamingToolCallParser(format="json")
    for ch in '{"name": "s", "parameters": {"q": "caf\\u00e9", "n": 1.0}}':
        out += p.feed(ch)
    assert out == [ToolCallDelta(0, "s", '{"q": "café", "n": 1.0}')]
    assert json.loads(out[0].arguments) == {"q": "café", "n": 1.0}


def test_cut_off_call_is_released_at_close_with_an_error() -> None:
    p = StreamingToolCallParser(format="hermes")
    assert p.feed('ok <tool_call>{"name": "f", "arguments": {"a": ') == [ContentDelta("ok ")]
    assert p.close() == [ContentDelta('<tool_call>{"name": "f", "arguments": {"a": ')]
    final = p.finish()
    assert final.calls == []
    assert final.errors == [
        "hermes: output ended before the tool call was complete: "
        '\'<tool_call>{"name": "f", "arguments": {"a": \''
    ]


def test_invalid_json_error_message_is_exact() -> None:
    out = parse_tool_calls('<tool_call>{"name": "x", "arguments": {"a": 1</tool_call>')
    assert out.errors == [
        "hermes: expected ',' or a closing bracket, got '<': "
        '\'<tool_call>{"name": "x", "arguments": {"a": 1\''
    ]


def test_long_candidate_is_excerpted_in_errors() -> None:
    text = '{"name": "f", "arguments": {"q": "' + "x" * 100
    out = parse_tool_calls(text, format="json")
    assert out.errors == [
        "json: output ended before the tool call was complete: " + repr(text[:60] + "...")
    ]


def test_finish_closes_and_is_repeatable() -> None:
    p = StreamingToolCallParser(format="pythonic")
    p.feed("[f(a=1)")
    first = p.finish()
    assert first == ParsedOutput(
        "[f(a=1)", [], ["pythonic: output ended before the tool call was complete: '[f(a=1)'"]
    )
    assert p.finish() == first
    with pytest.raises(ParserClosedError):
        p.feed("]")
    with pytest.raises(ParserClosedError):
        p.close()


def test_feed_rejects_non_text() -> None:
    p = StreamingToolCallParser(format="json")
    with pytest.raises(ToolCallParseError):
        p.feed(b"{}")  # type: ignore[arg-type]
    assert p.feed("") == []
    assert p.finish() == ParsedOutput("", [], [])


def test_format_property_and_default() -> None:
    assert StreamingToolCallParser().format == "hermes"
    assert StreamingToolCallParser(format="llama3_json").format == "llama3_json"


def test_stream_problems_detects_each_violation() -> None:
    final = ParsedOutput("ab", [ToolCall("f", {"x": 1})], [])
    good = [
        ContentDelta("a"),
        ToolCallDelta(0, "f", '{"x": '),
        ToolCallDelta(0, None, "1}"),
        ContentDelta("b"),
    ]
    assert stream_problems(good, final) == []
    assert stream_problems([ContentDelta("a"), ToolCallDelta(0, "f", '{"x": 1}')], final) == [
        "content deltas 'a' != final content 'ab'"
    ]
    assert stream_problems([ContentDelta("ab"), ToolCallDelta(1, "f", '{"x": 1}')], final) == [
        "call index 1 appeared after 0 calls",
        "call 0 streamed as None, final 'f'",
        "call 0 fragments '' != '{\"x\": 1}'",
    ]
    assert stream_problems(
        [ContentDelta("ab"), ToolCallDelta(0, "f", '{"x": 1}'), ToolCallDelta(0, "f", "")], final
    ) == ["call 0 named twice"]
    assert stream_problems([ContentDelta("ab"), ContentDelta("")], final) == [
        "empty ContentDelta",
        "0 calls streamed, 1 in the final output",
    ]


@pytest.mark.parametrize(
    "fmt, steps",
    [
        (
            "json",
            [
                ("Hi ``", [ContentDelta("Hi ")]),
                ("`json\n", []),
                ('{"name": "f", "arguments": {}}', [ToolCallDelta(0, "f", "{}")]),
                ("\n``", []),
                ("`\nBye", [ContentDelta("\nBye")]),
            ],
        ),
        (
            "json",
            [
                ('[{"name": "a", "arguments": {}}, ', []),
                ('{"name": "b", "arguments": {"k": "v"}}', []),
                ("]", [ToolCallDelta(0, "a", "{}"), ToolCallDelta(1, "b", '{"k": "v"}')]),
            ],
        ),
        (
            "llama3_json",
            [
                ("x <|python", [ContentDelta("x ")]),
                (
                    '_tag|>{"name": "a", "parameters": {"k": 1}}',
                    [ToolCallDelta(0, "a", '{"k": 1}')],
                ),
                (" ;", []),
                (" next", [ContentDelta(" next")]),
            ],
        ),
        (
            "pythonic",
            [
                ("ok [", [ContentDelta("ok ")]),
                ("see", []),
                (" docs] [f(", [ContentDelta("[see docs] ")]),
                ("a=[1, ')'])", []),
                ("]!", [ToolCallDelta(0, "f", '{"a": [1, ")"]}'), ContentDelta("!")]),
            ],
        ),
    ],
)
def test_hold_back_and_release_per_format(fmt: str, steps: list) -> None:
    p = StreamingToolCallParser(format=fmt)
    for delta, expected in steps:
        assert p.feed(delta) == expected, delta
    assert p.close() == []
    assert p.finish().errors == []


class CountingJsonScanner(JsonScanner):
    """Named fake: a real JsonScanner that counts the characters it is offered."""

    offered = 0

    def feed(self, s: str, i: int = 0) -> int:
        CountingJsonScanner.offered += len(s) - i
        return super().feed(s, i)


def test_held_text_is_never_rescanned(monkeypatch: pytest.MonkeyPatch) -> None:
    # Linear work, shown without timing: streamed per character, every character of a long
    # call reaches the JSON scanner exactly once, however long the held text grows.
    monkeypatch.setattr(hermes, "JsonScanner", CountingJsonScanner)
    CountingJsonScanner.offered = 0
    body = json.dumps({"name": "w", "arguments": {"text": 'a{[\\"' * 5000}})
    text = "x <tool_call>" + body + "</tool_call> y"
    p = StreamingToolCallParser(format="hermes")
    for ch in text:
        p.feed(ch)
    assert len(p.finish().calls) == 1
    assert CountingJsonScanner.offered == len(body)
