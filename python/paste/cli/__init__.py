"""The `paste` console script: one sub-command per module in this package.

Each sub-command module defines `register(subparsers)` which adds its parser and sets
`func=` to a callable taking the parsed namespace and returning an exit code. Modules are
imported lazily so `paste --help` stays fast and a missing optional dependency of one
sub-command does not break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
