"""Write benchmark tables into bench/RESULTS.md, one section per benchmark script.

Each script owns the block between `<!-- begin NAME -->` and `<!-- end NAME -->` and replaces
it whole on every run, so numbers in RESULTS.md always come from the last run of the script
and are never typed by hand. Sections of other scripts are left untouched.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from pathlib import Path

from paste.bench.report import markdown_table  # noqa: F401 - the bench scripts' tables

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"
_HEADER = "# Benchmark results\n\nWritten by the scripts in bench/; do not edit by hand.\n"


def machine_line() -> str:
    """One line describing where and when the numbers were measured."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{stamp}; {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def rerun_command(script: str, parser: argparse.ArgumentParser,
                  args: argparse.Namespace) -> str:
    """`python bench/SCRIPT` with every option whose value is not the parser's default (as
    --dest-with-dashes VALUE, floats in %g), in the order the options were added."""
    command = f"python bench/{script}"
    for dest, value in vars(args).items():
        if value != parser.get_default(dest):
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            command += f" --{dest.replace('_', '-')} {shown}"
    return command


def write_section(name: str, body: str, command: str, path: Path = RESULTS_PATH) -> None:
    """Replace (or append) section `name` with `body`, noting the command that produced it."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = (
        f"{begin}\n## {name}\n\n`{command}` ({machine_line()})\n\n{body.rstrip()}\n{end}\n"
    )
    text = path.read_text() if path.exists() else _HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
