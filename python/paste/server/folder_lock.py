"""One server per state folder: an exclusive flock on a lock file in it (with the holder's
pid), shared by the session journal (server/session_journal.py) and the stores' journal
(server/store_journal.py); a record as one JSON line, and a written file on the disk, as both
journals write them."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any


def lock_folder(folder: Path, lock_name: str, what: str, error: type[Exception]) -> int:
    """Creates `folder` if missing and returns an open descriptor of `folder/lock_name`
    holding its exclusive lock, with this pid in it (closing it releases the lock); `error`
    naming `what` if the folder cannot be created, the lock file opened, or another process
    holds the lock."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot create the {what} {folder}: {exc}") from None
    path = folder / lock_name
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise error(f"cannot lock the {what} {folder}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise error(f"the {what} {folder} is in use by another server (pid {holder})") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def sync_file(f: Any, fsync: bool) -> None:
    """With `fsync`: the open file's written data on the disk before the write returns."""
    if fsync:
        f.flush()
        os.fsync(f.fileno())


def json_line(record: dict[str, Any]) -> str:
    """`record` as one compact JSON line (non-ASCII kept as is)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
