"""Split shell commands into a command head (the control-flow label) and argument tokens.

The head is the first word of the first simple command that is not a `cd DIR &&` prefix or an
environment assignment; `python -m MOD` keeps the module (`python -m pytest`), so that "run
the tests" and "run a script" are different control-flow tokens.
"""

from __future__ import annotations

import re

_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = ("&&", "||", ";", "|")


def split_words(command: str) -> list[str]:
    """Whitespace tokens of the first line of `command` (quotes kept, never raises)."""
    first = command.strip().split("\n", 1)[0]
    return first.split()


def command_head(command: str) -> str:
    """The head of `command`, e.g. `cd /repo && python -m pytest -x t.py` -> `python -m pytest`.

    Returns "" for an empty command.
    """
    words = split_words(command)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "cd":  # skip `cd DIR` and the separator that follows it
            i += 2
            while i < len(words) and words[i] in _SEPARATORS:
                i += 1
            continue
        if _ASSIGN.match(word) or word in ("sudo", "time", "env"):
            i += 1
            continue
        break
    if i >= len(words):
        return words[0] if words else ""
    head = words[i].strip("'\"(")
    if head in ("python", "python3") and i + 2 < len(words) + 1 and i + 1 < len(words):
        if words[i + 1] == "-m" and i + 2 < len(words):
            return f"{head} -m {words[i + 2]}"
    return head


def bash_kind(command: str) -> str:
    """Control-flow label of a shell call: `bash:<head>`."""
    return f"bash:{command_head(command)}"
