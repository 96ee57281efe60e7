"""The scripted agents' thought text (paste.workloads.scripted helpers, call_text). The exact
thoughts of each workload are asserted in its agent tests; their lengths in test_workloads_live."""

from __future__ import annotations

from paste.workloads.scripted import Call, call_text, clip, enumerate_words, num, plural


def test_text_helpers():
    assert clip("a  b\n c", 10) == "a b c"
    assert clip("one two three four", 12) == "one two..."
    assert clip("abcdefghij", 6) == "abc..."
    assert enumerate_words(["a"]) == "a"
    assert enumerate_words(["a", "b"]) == "a and b"
    assert enumerate_words(["a", "b", "c"]) == "a, b and c"
    assert enumerate_words(list("abcdefgh")) == "a, b, c, d, e, f and 2 more"
    assert plural(1, "result") == "1 result" and plural(0, "result") == "0 results"
    assert num(2 / 3) == "0.667" and num(-2e-5) == "-2e-05"


def test_call_text_masks_brackets_and_keeps_long_thoughts():
    thought = "x[1] = {2} <ok> `y` " + "w" * 600
    text = call_text(Call(thought, "grep", {"pattern": "a"}))
    first, payload = text.split("\n")
    assert first.startswith("x_1_ = _2_ _ok_ _y_ w") and len(first) == 620
    assert payload == '{"name": "grep", "arguments": {"pattern": "a"}}'
