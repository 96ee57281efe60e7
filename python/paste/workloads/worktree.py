"""A working tree's private fork and how its changes are applied back (the coding workload's
transactions, paste.workloads.coding_tools).

    snapshot(top)                      relative path -> entry: "dir:" + sorted names, "link:" +
                                       target, "other:" + mode (never opened), or a regular
                                       file's permission bits and sha256 (links not followed)
    commit_fork(fork, root, before)    root gets what changed in the fork since `before`,
                                       unless root moved since (CommitConflictError)
    apply_changes(fork, root, before, changes)
                                       make root's changed paths what they are in the fork:
                                       new/changed files staged as temp files beside their
                                       targets and new folders made first (undone if anything
                                       fails), then renamed into place, then deletions;
                                       CommitConflictError for changes a commit does not apply
                                       (a link or special file, file <-> folder)
    path_entry(path)                   one snapshot entry (None: absent)
    replace_file(target, data)         atomic replace keeping the permission bits
    decode / encode                    bytes as Path.read_text reads / Path.write_text writes
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
from pathlib import Path

from paste.errors import PasteError


class CommitConflictError(PasteError, RuntimeError):
    """A transaction's commit cannot apply its staged changes as they are (the repository
    changed since they were staged): the speculation fails and the call runs for real."""


def decode(data: bytes) -> str:
    """data as Path.read_text reads it (locale encoding, universal newlines)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="locale").read()


def encode(text: str) -> bytes:
    """text as Path.write_text writes it (locale encoding, os.linesep newlines)."""
    buffer = io.BytesIO()
    writer = io.TextIOWrapper(buffer, encoding="locale")
    writer.write(text)
    writer.flush()
    return buffer.getvalue()


def read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _temp_beside(target: Path, data: bytes, mode: int) -> str:
    """A hidden temp file in target's folder holding data with permission bits mode."""
    prefix = f".{target.name[:64]}."
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=".paste")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temp, mode)
    except BaseException:
        os.unlink(temp)
        raise
    return temp


def replace_file(target: Path, data: bytes) -> None:
    """Atomically replace target's content (readers see the old or the new file)."""
    os.replace(_temp_beside(target, data, stat.S_IMODE(target.stat().st_mode)), target)


def path_entry(path: Path) -> str | None:
    """What path is, for the fork's snapshot: None (absent), "dir:" and its sorted names,
    "link:" and its target, a regular file's permission bits and sha256, or "other:" and the
    mode of anything else (a named pipe, say: never opened)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return f"link:{os.readlink(path)}"
    if stat.S_ISDIR(st.st_mode):
        return "dir:" + "/".join(sorted(os.listdir(path)))
    if not stat.S_ISREG(st.st_mode):
        return f"other:{st.st_mode:o}"
    return f"{stat.S_IMODE(st.st_mode):o}:{hashlib.sha256(path.read_bytes()).hexdigest()}"


def snapshot(top: Path) -> dict[str, str]:
    """Relative POSIX path -> path_entry of everything under top (links are not followed)."""
    tree = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(folder, name)
            entry = path_entry(path)
            if entry is not None:
                tree[path.relative_to(top).as_posix()] = entry
    return tree


def _kind(entry: str | None) -> str | None:
    """None (absent), "dir", "link", "other" or "file"."""
    if entry is None:
        return None
    return entry.split(":", 1)[0] if entry.startswith(("dir:", "link:", "other:")) else "file"


def commit_fork(fork: Path, root: Path, before: dict[str, str]) -> None:
    """Apply to root what changed in `fork` since `before` (its snapshot at the fork);
    CommitConflictError, with nothing applied, if a changed path no longer matches `before` in
    root (root moved since the fork) or changed in a way apply_changes does not apply."""
    after = snapshot(fork)
    changes = {p: after.get(p) for p in before.keys() | after.keys()
               if before.get(p) != after.get(p)}
    moved = sorted(p for p in changes if path_entry(root / p) != before.get(p))
    if moved:
        raise CommitConflictError(
            f"the repository changed since run_python forked it: {', '.join(moved)}")
    apply_changes(fork, root, before, changes)


def apply_changes(fork: Path, root: Path, before: dict[str, str],
           changes: dict[str, str | None]) -> None:
    """Make root's paths in `changes` what they are in the fork (path -> new path_entry, None:
    deleted). Anything that can fail (new folders, staged temp files) happens first and is
    undone if it does; then temp files are renamed into place and deletions follow."""
    for rel, entry in changes.items():
        kinds = [_kind(before.get(rel)), _kind(entry)]
        if {"link", "other"} & set(kinds) or None not in kinds and kinds[0] != kinds[1]:
            raise CommitConflictError(
                f"run_python changed {rel} in a way a commit does not apply "
                f"({' -> '.join(k or 'absent' for k in kinds)})")
    made: list[Path] = []
    staged: list[tuple[str, Path]] = []
    try:
        for rel in sorted(changes):  # a folder sorts before its contents
            kind, target = _kind(changes[rel]), root / rel
            if kind == "file":
                mode = stat.S_IMODE((fork / rel).stat().st_mode)
                staged.append((_temp_beside(target, (fork / rel).read_bytes(), mode), target))
            elif kind == "dir" and rel not in before:
                target.mkdir()
                made.append(target)
            # else a deletion (done last) or a folder whose listing changed (nothing to do)
    except BaseException:
        for temp, _ in staged:
            os.unlink(temp)
        for folder in reversed(made):
            folder.rmdir()
        raise
    for temp, target in staged:
        os.replace(temp, target)
    for rel in sorted((p for p, e in changes.items() if e is None), reverse=True):
        if _kind(before[rel]) == "dir":
            (root / rel).rmdir()
        else:
            (root / rel).unlink()
