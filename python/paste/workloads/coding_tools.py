"""The coding workload's tools: real grep, sed, python and pytest subprocesses on a repo copy.

    grep(pattern, path=".")      read_only             `grep -rnE --include=*.py PATTERN PATH`
    view(path, start=1, end=40)  read_only             `sed -n START,ENDp PATH`, numbered "N: text"
    edit(path, line, old, new)   side_effect           replace `old` by `new` in that line
    run_python(code)             side_effect, cpu      `python -c CODE` (may do anything)
    pytest(target="tests")       read_only, cpu        `python -m pytest -q`, no cache/bytecode

"cpu" tools are registered cpu_bound: a Python interpreter busy for about a second or more,
so speculation runs them only while a cpu slot is free (paste.speculation.budget).

Every path is relative to the repository copy and must stay inside it (PathEscapeError);
subprocesses run with the copy as working directory. pytest runs with `-p no:cacheprovider`
and PYTHONDONTWRITEBYTECODE=1 so it only reads the tree (hence read_only; a speculative run
that an edit overtakes is discarded by the freshness rule). Outputs are made deterministic:
pytest's "in 0.88s" durations are removed and the copy's absolute path becomes ".".
pytest runs with PYTEST_DISABLE_PLUGIN_AUTOLOAD=1: the sample repository uses no plugin, and
the third-party plugins installed beside paste (hypothesis, langsmith, ...) would add about 3 s
of CPU to every run that a project's own test environment would not spend.

Transactions (paste.tools.transaction), so the two side-effecting tools can run speculatively:

  edit        reads the file and computes the result and the new text exactly as edit does
              (plan_edit, shared by both), writing nothing. commit is a compare-and-swap: if
              the file's bytes are not the ones read, CommitConflictError (the hit fails and
              the real edit runs); else it is replaced atomically (temp file beside it, then
              os.replace, keeping its permission bits), as edit itself writes.
  run_python  copies the repository to a fork beside it (`<parent>/.paste-fork-*/<name>`,
              never inside it), snapshots the fork (relative path -> kind, mode and sha256;
              links are copied as links, never followed) and runs the snippet there; the
              fork's path becomes "." in the output, so it reads exactly as a run in the
              repository. commit diffs the fork against the snapshot. CommitConflictError if
              a changed path no longer matches the snapshot in the repository (it moved since
              the fork), changed between file and folder, or is a link or a special file (a
              named pipe, say); else the changes are applied (new and changed files first
              staged as temp files beside their targets, then renamed into place, then
              deletions) and the fork is deleted. discard deletes the fork. A snippet whose
              output or effect depends on the absolute working directory beyond its text
              (its length, say) differs between the two.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paste.tools.transaction import Staged
from paste.workloads.errors import (
    BadPatternError,
    EditError,
    PathEscapeError,
    WorkloadToolError,
)
from paste.workloads.toolbox import LiveToolBox
from paste.workloads.worktree import (
    CommitConflictError,
    commit_fork,
    decode,
    encode,
    read_or_none,
    replace_file,
    snapshot,
)

MAX_VIEW_LINES = 200
_DURATION = re.compile(r" in \d+(?:\.\d+)?s(?= |=|$)", re.M)


def inside(root: Path, path: str) -> Path:
    """root / path resolved; PathEscapeError if it is not inside root."""
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise PathEscapeError(f"path {path!r} is outside the repository")
    return resolved


def _run(root: Path, argv: list[str], timeout_s: float,
         **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", **extra_env)
    return subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=timeout_s,
                          env=env, check=False)


@dataclass(frozen=True)
class EditPlan:
    """What edit(path, line, old, new) does, computed without writing."""

    target: Path
    before: bytes  # the file as read
    after: bytes  # the file as edit writes it
    message: str  # edit's result


def plan_edit(root: Path, path: str, line: int, old: str, new: str) -> EditPlan:
    """edit's checks and result (raises what edit raises); shared by edit and its transaction."""
    target = inside(root, path)
    if not target.is_file():
        raise WorkloadToolError(f"no file {path!r}")
    before = target.read_bytes()
    lines = decode(before).split("\n")
    if not 1 <= line <= len(lines) or old not in lines[line - 1] or not old:
        raise EditError(f"line {line} of {path} does not contain {old!r}")
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return EditPlan(target, before, encode("\n".join(lines)),
                    f"edited {path}:{line}: {lines[line - 1].strip()}")


def add_coding_tools(box: LiveToolBox, root: Path, timeout_s: float = 120.0) -> None:
    """Register the five tools on the repository copy `root` (module docstring)."""
    root = root.resolve()

    def clean(text: str) -> str:
        return text.replace(str(root), ".")

    def grep(pattern: str, path: str = ".") -> str:
        """Search the repository's Python files for a regular expression.

        Args:
            pattern: Extended regular expression.
            path: File or folder to search, relative to the repository.
        """
        target = inside(root, path)
        done = _run(root, ["grep", "-rnE", "--include=*.py", "--", pattern,
                           os.path.relpath(target, root)], timeout_s)
        if done.returncode == 2:
            raise BadPatternError(clean(done.stderr.strip()))
        lines = [ln[2:] if ln.startswith("./") else ln for ln in done.stdout.splitlines()]
        return "\n".join(sorted(lines)) if lines else "no matches"

    def view(path: str, start: int = 1, end: int = 40) -> str:
        """Show lines start..end of a file, numbered.

        Args:
            path: File relative to the repository.
            start: First line (1-based).
            end: Last line.
        """
        target = inside(root, path)
        if not target.is_file():
            raise WorkloadToolError(f"no file {path!r}")
        if start < 1 or end < start or end - start >= MAX_VIEW_LINES:
            raise WorkloadToolError(f"need 1 <= start <= end < start + {MAX_VIEW_LINES}")
        done = _run(root, ["sed", "-n", f"{start},{end}p", str(target)], timeout_s)
        lines = done.stdout.splitlines()
        return "\n".join(f"{start + i}: {line}" for i, line in enumerate(lines))

    def edit(path: str, line: int, old: str, new: str) -> str:
        """Replace text in one line of a file.

        Args:
            path: File relative to the repository.
            line: Line number (1-based).
            old: Exact text to replace (its first occurrence in the line).
            new: Replacement text.
        """
        change = plan_edit(root, path, line, old, new)
        replace_file(change.target, change.after)
        return change.message

    def edit_transaction(path: str, line: int, old: str, new: str) -> Staged:
        """edit's transaction: its result now, the write at commit (compare-and-swap)."""
        change = plan_edit(root, path, line, old, new)

        def commit() -> None:
            if read_or_none(change.target) != change.before:
                raise CommitConflictError(f"{path} changed since the edit was staged")
            replace_file(change.target, change.after)

        return Staged(change.message, commit)

    def python_output(code: str, cwd: Path) -> str:
        done = _run(cwd, [sys.executable, "-c", code], timeout_s)
        out = f"{done.stdout}{done.stderr}".rstrip() + f"\n(exit code {done.returncode})"
        return clean(out.replace(str(cwd), "."))

    def run_python(code: str) -> str:
        """Run a Python snippet in the repository and return its output.

        Args:
            code: Python source, run with `python -c`.
        """
        return python_output(code, root)

    def run_python_transaction(code: str) -> Staged:
        """run_python's transaction: the snippet runs in a fork of the repository (module
        docstring); commit copies the fork's changes back, discard deletes the fork."""
        scratch = Path(tempfile.mkdtemp(prefix=".paste-fork-", dir=root.parent)).resolve()
        discard = functools.partial(shutil.rmtree, scratch, ignore_errors=True)
        try:
            fork = scratch / root.name  # same base name: os.getcwd() differs only in its folder
            shutil.copytree(root, fork, symlinks=True)
            before = snapshot(fork)
            value = python_output(code, fork)
        except BaseException:
            discard()
            raise

        def commit() -> None:
            commit_fork(fork, root, before)
            discard()

        return Staged(value, commit, discard)

    def pytest(target: str = "tests") -> str:
        """Run the repository's tests with pytest.

        Args:
            target: Test file or folder, relative to the repository.
        """
        rel = os.path.relpath(inside(root, target), root)
        done = _run(root, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--no-header", "--tb=short", rel], timeout_s,
                    PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        out = _DURATION.sub("", clean(f"{done.stdout}{done.stderr}".rstrip()))
        return f"{out}\n(exit code {done.returncode})"

    box.add(grep, "read_only", timeout_s=timeout_s)
    box.add(view, "read_only", timeout_s=timeout_s)
    box.add(edit, "side_effect", timeout_s=timeout_s, transaction=edit_transaction)
    box.add(run_python, "side_effect", timeout_s=timeout_s, cpu_bound=True,
            transaction=run_python_transaction)
    box.add(pytest, "read_only", timeout_s=timeout_s, cpu_bound=True)
