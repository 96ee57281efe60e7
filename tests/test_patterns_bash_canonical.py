"""Command heads of shell calls, canonical call text, value keys and latency priors."""

import pytest

from paste.patterns.bash import bash_kind, command_head
from paste.patterns.canonical import _canonical_call, value_key
from paste.patterns.latency import expected_latency


@pytest.mark.parametrize(
    "command, head",
    [
        ("cat -n src/a.py | head -20", "cat"),
        ("cd /testbed && python -m pytest -x tests/t.py", "python -m pytest"),
        ("FOO=1 sed -n '10,20p' a.py", "sed"),
        ("cd repo; ls -la", "ls"),
        ('open "tests/missing_colon.py"', "open"),
        ("", ""),
    ],
)
def test_command_head(command, head):
    assert command_head(command) == head
    assert bash_kind(command) == f"bash:{head}"


def test_canonical_call_sorts_keys_and_normalises_numbers():
    assert (
        _canonical_call("f", {"b": 2.0, "a": [1, {"y": -0.0, "x": "é"}]})
        == 'f{"a":[1,{"x":"é","y":0}],"b":2}'
    )
    assert _canonical_call("f", {"x": 1.5}) == 'f{"x":1.5}'
    assert value_key(5.0) == value_key(5) == value_key("5") == "5"
    assert value_key(True) == "true" and value_key(None) == "null"


def test_expected_latency_prefers_measurements():
    assert expected_latency("bash:open", {"bash:open": [0.9, 3.0]}) == pytest.approx(0.3)
    assert expected_latency("bash:python -m pytest", {}) == 6.5
    assert expected_latency("search", {}) == 1.0
    assert expected_latency("bash:grep", {}) == 0.11
    assert expected_latency("get_user_details", {}) == 0.05
