"""Round trip: calls rendered in each format, inside prose, parse back to exactly those calls.

Hypothesis draws tool names, JSON argument values (nested objects and arrays, unicode,
escapes, floats, booleans, null), the prose around the calls, the rendering variant of the
format and a chunking; the parsed calls must equal the drawn ones as JSON text (so `true`
and `1`, `1.0` and `1` stay distinct) and the content must equal the prose.
"""

from __future__ import annotations

import json
import keyword
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from paste.parsing.replay import replay, stream_problems

_IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s)
)
_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_VALUE = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_CALLS = st.lists(
    st.tuples(_IDENT, st.dictionaries(_IDENT, _VALUE, max_size=3)), min_size=1, max_size=3
)
_PROSE = st.text(alphabet="abc XYZ.,!?\n", max_size=12)


def _render(fmt: str, calls: list, variant: int, ascii_only: bool) -> str:
    def dump(value: object) -> str:
        return json.dumps(value, ensure_ascii=ascii_only, indent=2 if variant == 2 else None)

    if fmt == "hermes":
        return "\n".join(
            "<tool_call>\n" + dump({"name": n, "arguments": a}) + "\n</tool_call>" for n, a in calls
        )
    if fmt == "json":
        objs = [{"name": n, "arguments": a} for n, a in calls]
        if variant == 0:
            return "\n".join(dump(o) for o in objs)
        return "```json\n" + dump(objs) + "\n```"
    if fmt == "llama3_json":
        body = "; ".join(dump({"name": n, "parameters": a}) for n, a in calls)
        return ("<|python_tag|>" if variant == 1 else "") + body
    if fmt == "mistral":  # variant 1: the args layout of tokenizers v11+
        if variant == 1:
            return "".join(f"[TOOL_CALLS]{n}[ARGS]" + dump(a) for n, a in calls)
        return "[TOOL_CALLS]" + (" " if variant == 2 else "") + dump(
            [{"name": n, "arguments": a} for n, a in calls])
    parts = [f"{n}(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")" for n, a in calls]
    listing = "[" + ", ".join(parts) + "]"
    return f"<|python_start|>{listing}<|python_end|>" if variant == 1 else listing


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    st.sampled_from(["hermes", "json", "llama3_json", "mistral", "pythonic"]),
    _CALLS,
    st.integers(0, 2),
    st.booleans(),
    _PROSE,
    _PROSE,
    st.lists(st.integers(0, 400), max_size=10),
)
def test_rendered_calls_parse_back(fmt, calls, variant, ascii_only, before, after, cuts) -> None:
    text = before + " " + _render(fmt, calls, variant, ascii_only) + " " + after
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    events, final = replay([text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], fmt)
    assert stream_problems(events, final) == []
    assert final.errors == []
    got = [(c.name, json.dumps(c.arguments, sort_keys=True)) for c in final.calls]
    assert got == [(n, json.dumps(a, sort_keys=True)) for n, a in calls]
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    assert squash(final.content) == squash(before + " " + after)
