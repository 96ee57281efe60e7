"""ResponseJournal: the stored Responses API answers written down, so a server restart keeps
them (`paste serve --response-dir DIR`): GET, input_items and previous_response_id chains work
across restarts.

One append-only file, `DIR/responses.log`, one JSON record per line, in the order the store
(server/response_store.py) changed:

    {"record": "put", "id", "parent", "response", "own", "length", "cache_key", "auto_key",
     "input_items"}     a response stored (again: a background response's later snapshot)
    {"record": "delete", "id"}   a response deleted or evicted from the bounded store

Each write is flushed to the OS before the store's call returns, so a killed server loses no
stored response; with `fsync` (`paste serve --response-fsync`) it also waits until the disk
has it. At start `load()` reads the records back, and the store replays them, then the file is
rewritten with only the responses still stored (written aside, then renamed over it), so it
does not grow without bound across restarts. A line that is not a record (cut short by a
crash, edited) is reported with its line number and skipped; nothing is dropped silently.

One server at a time owns a folder (an exclusive lock on `DIR/responses.lock`; a second server
gets ResponseJournalError). The folder may be the session folder (--session-dir) too: the
two journals use different files.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from paste.errors import PasteError
from paste.server.folder_lock import json_line, lock_folder

FILE = "responses.log"
LOCK = "responses.lock"


class ResponseJournalError(PasteError, OSError):
    """The response folder cannot be created, locked or written."""


def is_put(record: Any) -> bool:
    """A well-formed put record."""
    return (isinstance(record, dict) and record.get("record") == "put"
            and isinstance(record.get("id"), str) and isinstance(record.get("response"), dict)
            and isinstance(record.get("parent"), str | None)
            and isinstance(record.get("own"), list)
            and all(isinstance(m, dict) for m in record["own"])
            and isinstance(record.get("length"), int)
            and isinstance(record.get("cache_key"), str | None)
            and isinstance(record.get("auto_key"), bool)
            and isinstance(record.get("input_items"), list))


def is_delete(record: Any) -> bool:
    return (isinstance(record, dict) and record.get("record") == "delete"
            and isinstance(record.get("id"), str))


class ResponseJournal:
    def __init__(self, folder: str | Path, fsync: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / FILE
        self.fsync = fsync
        self._lock = threading.Lock()
        self._owner: int | None = lock_folder(self.folder, LOCK, "response folder",
                                              ResponseJournalError)

    def close(self) -> None:
        """Lets another server own the folder (idempotent)."""
        if self._owner is not None:
            os.close(self._owner)
            self._owner = None

    def put(self, record: dict[str, Any]) -> None:
        """Appends a put record (`record` holds its fields but "record")."""
        self._append(json_line({"record": "put", **record}))

    def delete(self, response_id: str) -> None:
        self._append(json_line({"record": "delete", "id": response_id}))

    def _append(self, line: str) -> None:
        with self._lock:
            try:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line)
                    self._sync(f)
            except OSError as exc:
                raise ResponseJournalError(f"cannot write {self.path}: {exc}") from None

    def _sync(self, f: Any) -> None:
        if self.fsync:
            f.flush()
            os.fsync(f.fileno())

    def load(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The records in file order, and the problems found, each as "FILE:LINE: what"."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return [], []
        except (OSError, UnicodeDecodeError) as exc:
            return [], [f"{self.path}:0: cannot be read ({exc}); no response is restored"]
        records, problems = [], []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if is_put(record) or is_delete(record):
                records.append(record)
            else:
                problems.append(f"{self.path}:{number}: not a response record; skipped")
        return records, problems

    def rewrite(self, puts: list[dict[str, Any]]) -> None:
        """Replaces the file by these put records (fields as for put()), in order."""
        aside = self.path.with_name(FILE + ".new")
        with self._lock:
            try:
                with aside.open("w", encoding="utf-8") as f:
                    f.writelines(json_line({"record": "put", **p}) for p in puts)
                    self._sync(f)
                os.replace(aside, self.path)
            except OSError as exc:
                raise ResponseJournalError(f"cannot rewrite {self.path}: {exc}") from None
