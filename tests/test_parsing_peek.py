"""peek_call_name and StreamingToolCallParser.partial_call: the tool name of a call still
being decoded, exactly when it is written out in full, never a name inside the arguments."""

from __future__ import annotations

import pytest

from paste.parsing.peek import peek_call_name
from paste.parsing.stream import StreamingToolCallParser


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('{"name": "search"', "search"),
        ('\n{"name":"search", "arguments": {"q": "x', "search"),
        ('[{"name": "a"}, {"name": "b"', "a"),  # an array of calls: the first one
        ('{"name": "caf\\u00e9"', "café"),  # escapes decoded
        ('{"name": "say \\"hi\\""', 'say "hi"'),
        # keys before "name" are skipped with their values, nested "name" keys included
        ('{"arguments": {"name": "Bob", "tags": ["}", {"name": 1}]}, "name": "greet"', "greet"),
        ('{"id": 3, "name": "f"', "f"),
    ],
)
def test_the_first_calls_name_once_written(text, name):
    assert peek_call_name("json", text) == name


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        '{"na',
        '{"name"',
        '{"name": ',
        '{"name": "sear',  # the value is not complete
        '{"name": "a\\"',  # an escaped quote does not end it
        '{"arguments": {"name": "Bob"',  # only a nested "name" so far
        '{"arguments": {"q": 1}}',  # the object ended without a name
        '{"name": 3}',  # not a string
        '{"name": ""}',  # empty
        '{"x" "name": "f"',  # a key without a colon: not an object
        "hello {",  # not an object at the start
        '"name": "f"',
    ],
)
def test_no_name_until_it_is_complete_or_when_there_is_none(text):
    assert peek_call_name("hermes", text) is None


def test_pythonic_names_are_read_before_the_parenthesis():
    assert peek_call_name("pythonic", "[get_weather(city='Paris'") == "get_weather"
    assert peek_call_name("pythonic", " [ mod.fn (") == "mod.fn"
    assert peek_call_name("pythonic", "[get_wea") is None
    assert peek_call_name("pythonic", "[1(") is None


@pytest.mark.parametrize("fmt", ["mistral", "mistral_args"])
def test_mistral_names_are_read_in_either_layout(fmt):
    assert peek_call_name(fmt, "get_weather[") == "get_weather"
    assert peek_call_name(fmt, "search.web[CALL_ID]a1") == "search.web"
    assert peek_call_name(fmt, "get_wea") is None
    assert peek_call_name(fmt, '[{"name": "f", "arguments": {"name": "g"') == "f"
    assert peek_call_name(fmt, '[{"name": "f') is None
    parser = StreamingToolCallParser(format=fmt)
    parser.feed("Checking.[TOOL_CALLS]get_weather[AR")
    assert (parser.partial_call(), parser.content) == ("get_weather[AR", "Checking.")
    assert peek_call_name(fmt, parser.partial_call() or "") == "get_weather"


def test_partial_call_is_the_held_body_after_the_marker_only_while_in_a_call():
    """...and `content` is the text outside calls emitted so far (the turn's text)."""
    parser = StreamingToolCallParser(format="hermes")
    seen = []
    for delta in ["I will search. <tool", "_call>\n{\"na", 'me": "search", "argu',
                  'ments": {"q": "x"}}</tool_call>', " done"]:
        parser.feed(delta)
        seen.append((parser.partial_call(), parser.content))
    text = "I will search. "
    assert seen == [(None, text), ('{"na', text), ('{"name": "search", "argu', text),
                    (None, text), (None, text + " done")]
    assert [c.name for c in parser.calls] == ["search"]


def test_partial_call_is_cut_at_the_limit():
    parser = StreamingToolCallParser(format="json")
    parser.feed('Calling. {"name": "write", "arguments": {"text": "' + "a" * 100)
    assert parser.partial_call(12) == '{"name": "wr'
    assert parser.partial_call(10_000) == '{"name": "write", "arguments": {"text": "' + "a" * 100
