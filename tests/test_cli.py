"""paste.cli.main: the one place a sub-command's typed error becomes an `error:` line and an
exit code (2 for bad input, 1 for any other PasteError); anything else still raises."""

from __future__ import annotations

import argparse

import pytest

from paste import cli
from paste.errors import InvalidArgumentError, OutOfBlocksError

_real_build_parser = cli.build_parser


def _parser_with(func):
    """The real `paste` parser plus one fake sub-command `fake` that runs `func`."""
    parser = _real_build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.add_parser("fake").set_defaults(func=func)
    return parser


def _raise(exc):
    def run(_args):
        raise exc

    return run


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (InvalidArgumentError("--widgets must be >= 1, got 0"), 2),
        (OutOfBlocksError("no free KV block"), 1),
    ],
)
def test_typed_error_is_one_line_and_an_exit_code(monkeypatch, capsys, exc, code):
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_with(_raise(exc)))
    assert cli.main(["fake"]) == code
    captured = capsys.readouterr()
    assert captured.err == f"error: {exc}\n"
    assert captured.out == ""


def test_untyped_exception_is_not_swallowed(monkeypatch):
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_with(_raise(KeyError("bug"))))
    with pytest.raises(KeyError, match="bug"):
        cli.main(["fake"])


def test_sub_command_exit_code_passes_through(monkeypatch):
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_with(lambda _args: 3))
    assert cli.main(["fake"]) == 3


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert capsys.readouterr().out.startswith("usage: paste")


def test_generate_bad_parameter_is_bad_input(capsys):
    # GenerationParams rejects the value before any model is loaded.
    assert cli.main(["generate", "hello", "--max-tokens", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "max_tokens" in err
    assert err.count("\n") == 1
