"""The `paste` console script: one sub-command per module in this package.

Each sub-command module defines `register(subparsers)` which adds its parser and sets
`func=` to a callable taking the parsed namespace and returning an exit code. Modules are
imported lazily so `paste --help` stays fast and a missing optional dependency of one
sub-command does not break the others.

Errors are reported in one place, `main`: a typed paste error raised by any sub-command is one
line on stderr (`error: ...`) instead of a traceback, with exit code 2 for bad input
(InvalidArgumentError and its subclasses: an unknown model, a missing trace folder, a bad
option value, a bad --config file) and 1 for any other PasteError (a failed download, an
unwritable store).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from paste.errors import InvalidArgumentError, PasteError

# (sub-command name, module under paste.cli); keep sorted by name.
_COMMANDS: list[tuple[str, str]] = [
    ("bench", "paste.cli.bench_cmd"),
    ("generate", "paste.cli.generate_cmd"),
    ("models", "paste.cli.models_cmd"),
    ("patterns", "paste.cli.patterns_cmd"),
    ("serve", "paste.cli.serve_cmd"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paste", description="paste agent-serving engine")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, module_name in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # sub-command not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "config", None) is not None:
            from paste.cli.config_file import with_config_file

            args = with_config_file(parser, argv, args)
        return int(args.func(args) or 0)
    except InvalidArgumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PasteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
