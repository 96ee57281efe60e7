"""Effect class and latency family of a recorded call, from its tool name or shell command.

Effect classes decide what may run speculatively (invariant 2), so unknown calls are
`side_effect` (the safe default). Function-calling tools are classified by the words of their
name (split at `_`, case changes and non-letters): a write word (book, cancel, update, send,
post, create, delete, ...) makes a call side_effect; otherwise a read word (search, get, find,
list, view, check, calculate, ...) makes it read_only. A ToolBench name `X_for_Y` (endpoint X
of RapidAPI service Y) is classified by X alone: a service's name is not a verb. The coding sources have one `bash` tool;
its calls are classified by command head (paste.patterns.bash.command_head): viewers and
searches (cat, nl, head, tail, ls, grep, find, `sed -n`, git diff/log/show/status, SWE-agent's
open/goto/scroll/find_file/search_*) and test runs (pytest, runtests.py, bin/test, unittest)
are read_only when the command has no output redirection, `-i` in-place edit, `tee` or chained
command; everything else (edits, rm, mv, scripts, pip, submit) is side_effect. Test runs count
as read_only because they only read the working tree (their caches are not observable to the
agent); repro scripts do not, as agents often write files from them.
"""

from __future__ import annotations

import re

from paste.patterns.bash import command_head

_WRITE_WORDS = {
    "book", "cancel", "update", "send", "post", "create", "delete", "remove", "add", "set", "place",
    "purchase", "transfer", "close", "edit", "write", "insert", "modify", "change", "submit", "buy",
    "sell", "retweet", "comment", "follow", "lock", "unlock", "start", "press", "release", "fill",
    "activate", "make", "pay", "refund", "exchange", "mkdir", "touch", "echo", "mv", "cp", "rm",
    "rmdir", "cd", "sort", "authenticate", "login", "logout", "reset", "register", "fund", "trade",
    "deposit", "withdraw",
}  # fmt: skip
# Tools that compute from their arguments alone: no state read, none changed. tau-bench's
# `think` appends a thought to nothing; `calculate`, `mean`, unit conversions evaluate locally.
_PURE_WORDS = {"think", "calculate", "compute", "mean", "average", "convert"}
_READ_WORDS = {
    "search", "get", "find", "list", "view", "show", "check", "calculate", "compute", "estimate",
    "retrieve", "lookup", "fetch", "read", "display", "query", "track", "latest", "ls", "cat",
    "grep", "tail", "head", "diff", "wc", "pwd", "du", "mean", "convert", "verify", "detect",
    "news", "info", "details",
}  # fmt: skip
_TEST_HEADS = {
    "pytest", "python -m pytest", "python3 -m pytest", "./tests/runtests.py",
    "../tests/runtests.py", "bin/test", "tox", "python3 -m unittest", "python -m unittest",
    "python3 -m django.test",
}  # fmt: skip
_GREP_HEADS = {"grep", "find", "find_file", "search_file", "search_dir", "rg"}
_VIEW_HEADS = {
    "cat", "nl", "head", "tail", "ls", "open", "goto", "scroll_up", "scroll_down", "wc", "pwd",
    "file", "strings", "whoami", "sort", "diff",
}  # fmt: skip
_EDIT_HEADS = {
    "edit", "create", "insert", "rm", "mv", "cp", "mkdir", "touch", "echo", "rmdir", "patch", "ed",
    "sed", "submit",
}  # fmt: skip
# Read-only heads (is_read_only_command) are the viewers, searches and test runs of the
# families above, except `rg` and Django's test runner, which are not read-only heads.
_READ_HEADS = (_VIEW_HEADS | _GREP_HEADS | _TEST_HEADS) - {"rg", "python3 -m django.test"}
_FETCH_WORDS = {"curl", "wget", "fetch", "browse", "visit"}
_CD_PREFIX = re.compile(r"^(cd\s+\S+\s*&&\s*)+")
_UNSAFE = re.compile(r"(>|\btee\b|\s-i\b|--in-place|&&|\|\||;|`|\$\()")


def name_words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w}


def bash_command(arguments: dict) -> str:
    value = arguments.get("command", "")
    return value if isinstance(value, str) else ""


def is_read_only_command(command: str) -> bool:
    """A shell command that only reads (see the module docstring)."""
    if "\n" in command.strip():
        return False  # heredocs and multi-line scripts
    body = _CD_PREFIX.sub("", command.strip())
    head = command_head(body)
    rest = body.split(head.split()[-1], 1)[-1] if head else body
    if head == "sed":
        return bool(re.search(r"\s-n\b", rest)) and not _UNSAFE.search(rest)
    if head == "git":
        sub = rest.split()
        return (
            bool(sub) and sub[0] in ("diff", "log", "show", "status") and not _UNSAFE.search(rest)
        )
    return head in _READ_HEADS and not _UNSAFE.search(rest)


_NETWORK_HEADS = {"pip", "pip3", "curl", "wget", "apt", "apt-get", "npm", "yarn", "conda", "ssh",
                  "scp", "rsync"}  # fmt: skip
_NETWORK = re.compile(r"(https?://|\bpip3? install\b|\bgit\s+(push|pull|fetch|clone)\b)")


def stays_in_worktree(command: str) -> bool:
    """A shell command whose effects stay in the agent's working tree, so running it on a
    private copy of the tree and copying the changes back is the same as running it: no
    network (package installs, fetches, pushes) and not the agent's final submission."""
    body = _CD_PREFIX.sub("", command.strip())
    words = body.split()
    if not words or words[0] in _NETWORK_HEADS:
        return False
    return not _NETWORK.search(body) and "submit" not in body.lower()


def effect_of(name: str, arguments: dict) -> str:
    """`pure`, `read_only` or `side_effect` for one call."""
    if name == "bash":
        return "read_only" if is_read_only_command(bash_command(arguments)) else "side_effect"
    words = name_words(_endpoint(name))
    if words & _WRITE_WORDS:
        return "side_effect"
    if words & _PURE_WORDS or _is_conversion(words):
        return "pure"
    return "read_only" if words & _READ_WORDS else "side_effect"


def _endpoint(name: str) -> str:
    """The part of a tool name that says what the call does: `X` of `X_for_Y`, ToolBench's
    endpoint X of RapidAPI service Y (`get_track_info_for_pridnestrovie_post` is a lookup,
    whatever words the service's name holds); the whole name otherwise."""
    head, sep, _service = name.partition("_for_")
    return head if sep and head else name


def _is_conversion(words: set[str]) -> bool:
    """`liter_to_gallon`, `celsius_to_fahrenheit`: X_to_Y with no other word."""
    return len(words) == 3 and "to" in words


def family_of(name: str, kind: str) -> str:
    """Latency family (paste.bench.latency) of a call given its tool name and kind."""
    if kind.startswith("bash:"):
        head = kind[5:]
        words = set(head.replace("/", " ").replace(".", " ").split())
        if head in _TEST_HEADS or "runtests" in words or "pytest" in words:
            return "tests"
        if head in _GREP_HEADS:
            return "grep_find"
        if head in _VIEW_HEADS:
            return "file_view"
        if head in _EDIT_HEADS:
            return "file_edit"
        if words & _FETCH_WORDS:
            return "search_fetch"
        return "script"
    words = name_words(name)
    if effect_of(name, {}) == "pure":
        return "local"
    if words & _FETCH_WORDS:
        return "search_fetch"
    if name in ("search", "web_search", "wikipedia_search"):
        return "web_search"
    return "api"
