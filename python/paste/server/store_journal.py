"""StoreJournal: an append-only JSON-lines file under one of the server's bounded stores, so
a restart keeps what the store held (`paste serve --response-dir DIR`: the Responses API's
stored responses, response_journal.py, and its conversations, conversation_store.py).

One file per store, `DIR/<name>.log`, one JSON record per line in the order the store
changed. Each write is flushed to the OS before the store's call returns, so a killed server
loses no change; with `fsync` it also waits until the disk has it. At start the store replays
`load()`'s records, then `rewrite()`s the file with records of only what it still holds
(written aside, then renamed over it), so the file does not grow without bound across
restarts. A line that is not a valid record (cut short by a crash, edited) is reported with
its line number and skipped; nothing is dropped silently.

One server at a time owns a store's file (an exclusive lock on `DIR/<name>.lock`; a second
server gets StoreJournalError). Different stores, and the session journal, may share DIR.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paste.errors import PasteError
from paste.server.folder_lock import json_line, lock_folder, sync_file

log = logging.getLogger(__name__)


class StoreJournalError(PasteError, OSError):
    """A store's folder cannot be created, locked or written."""


class StoreJournal:
    def __init__(self, folder: str | Path, name: str, fsync: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / f"{name}.log"
        self.fsync = fsync
        self.num_failed_writes = 0  # record() writes that failed (the store went on)
        self._lock = threading.Lock()
        self._owner: int | None = lock_folder(self.folder, f"{name}.lock", f"{name} folder",
                                              StoreJournalError)

    def close(self) -> None:
        """Lets another server own the file (idempotent)."""
        if self._owner is not None:
            os.close(self._owner)
            self._owner = None

    def append(self, record: dict[str, Any]) -> None:
        with self._lock:
            try:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json_line(record))
                    self._sync(f)
            except OSError as exc:
                raise StoreJournalError(f"cannot write {self.path}: {exc}") from None

    def record(self, record: dict[str, Any]) -> None:
        """append() for a store's change: a failed write is logged and counted instead of
        raised, and the store goes on in memory."""
        try:
            self.append(record)
        except StoreJournalError as exc:
            self.num_failed_writes += 1
            log.error("%s", exc)

    def _sync(self, f: Any) -> None:
        sync_file(f, self.fsync)

    def load(self, valid: Callable[[Any], bool]) -> tuple[list[dict[str, Any]], list[str]]:
        """The records `valid` accepts, in file order, and the problems found, each as
        "FILE:LINE: what"."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return [], []
        except (OSError, UnicodeDecodeError) as exc:
            return [], [f"{self.path}:0: cannot be read ({exc}); nothing is restored"]
        records, problems = [], []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if valid(record):
                records.append(record)
            else:
                problems.append(f"{self.path}:{number}: not a valid record; skipped")
        return records, problems

    def compact(self, records: list[dict[str, Any]], problems: list[str]) -> list[str]:
        """The end of a store's restore: rewrite() with `records` (what it holds now); a
        failure joins `problems`, which are logged as warnings and returned."""
        try:
            self.rewrite(records)
        except StoreJournalError as exc:
            problems.append(str(exc))
        for problem in problems:
            log.warning("%s", problem)
        return problems

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        """Replaces the file by these records, in order."""
        aside = self.path.with_name(self.path.name + ".new")
        with self._lock:
            try:
                with aside.open("w", encoding="utf-8") as f:
                    f.writelines(json_line(r) for r in records)
                    self._sync(f)
                os.replace(aside, self.path)
            except OSError as exc:
                raise StoreJournalError(f"cannot rewrite {self.path}: {exc}") from None
