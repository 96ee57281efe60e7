"""paste.tools.results: deterministic rendering and UTF-8-safe truncation."""

import dataclasses

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from paste.tools import ResultSerializationError, render_result
from paste.tools.results import truncate_content


class Point(pydantic.BaseModel):
    x: int
    label: str


@dataclasses.dataclass
class Pair:
    first: int
    second: list[str]


def test_render_result_rules():
    assert render_result("as is ✓") == "as is ✓"
    assert render_result({"b": 1, "a": "é"}) == '{"b": 1, "a": "é"}'  # insertion order kept
    assert render_result([1, 2.5, None, True]) == "[1, 2.5, null, true]"
    assert render_result(None) == "null"
    assert render_result(Point(x=1, label="p")) == '{"x": 1, "label": "p"}'
    assert render_result(Pair(1, ["z"])) == '{"first": 1, "second": ["z"]}'


def test_render_result_rejects_non_json_values():
    with pytest.raises(ResultSerializationError) as info:
        render_result(b"bytes")
    assert str(info.value) == (
        "result of type bytes is not JSON-serialisable: "
        "Object of type bytes is not JSON serializable"
    )
    with pytest.raises(ResultSerializationError):
        render_result(float("nan"))


def test_truncate_content_counts_bytes_and_never_splits_a_character():
    assert truncate_content("short", 5) == ("short", 0)
    assert truncate_content("abcdef", 4) == ("abcd…[truncated 2 bytes]", 2)
    # "é" is 2 bytes: a 3-byte cut keeps "a" + "é" (3 bytes) exactly.
    assert truncate_content("aéé", 3) == ("aé…[truncated 2 bytes]", 2)
    # A 2-byte cut would split the first "é": keep only "a" and count 4 dropped bytes.
    assert truncate_content("aéé", 2) == ("a…[truncated 4 bytes]", 4)


@given(text=st.text(), max_bytes=st.integers(min_value=1, max_value=64))
def test_truncate_content_properties(text: str, max_bytes: int):
    out, dropped = truncate_content(text, max_bytes)
    size = len(text.encode("utf-8"))
    if size <= max_bytes:
        assert (out, dropped) == (text, 0)
        return
    kept = out[: -len(f"…[truncated {dropped} bytes]")]
    assert out == kept + f"…[truncated {dropped} bytes]"
    assert text.startswith(kept)
    assert len(kept.encode("utf-8")) == size - dropped
    assert max_bytes - 3 <= len(kept.encode("utf-8")) <= max_bytes  # at most a partial char cut
