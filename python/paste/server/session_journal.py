"""SessionJournal: native sessions written down as they go, so a server restart keeps them
(`paste serve --session-dir DIR`).

One file per session, `DIR/<session id>.jsonl`. Its first line describes the session
({"record": "session", "id", "tenant", "tools", "system", "max_turns", "max_tokens",
"environment", "priority", "lora", "created_at"}; "lora": the LoRA adapter its turns run, null
for the base model, absent in files written before adapters); each later line is one committed
message ({"record": "message", "message", "raw": the model's text of an assistant message,
"ok": a tool message's success}), appended and flushed the moment the session commits it, so a
server that is killed loses no committed message. With `fsync` (`paste serve --session-fsync`)
each write also waits until the disk has it (the file's data, and the folder's entry when a
file is created or removed), so a machine that loses power loses none either; each commit then
costs a disk flush. Writes to different sessions' files do not wait for each other. DELETE
removes the file.

One server at a time owns a folder: it holds an exclusive lock on `DIR/.lock` (with its pid)
until it closes the journal; a second server on the same folder gets SessionJournalError.

At start, `load()` reads every file back. A line that is not a record (a line cut short by a
crash, an edited file) is reported with its file and line number and skipped; a file whose
first line is not a session record is reported and left alone. Nothing is dropped silently.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paste.errors import InvalidArgumentError, PasteError
from paste.server.folder_lock import json_line, lock_folder, sync_file

SUFFIX = ".jsonl"
HEADER_FIELDS = ("id", "tenant", "tools", "system", "max_turns", "max_tokens", "environment",
                 "priority", "lora", "created_at")


class SessionJournalError(PasteError, OSError):
    """The session folder cannot be created, locked or written."""


@dataclass
class JournaledSession:
    """One session read back: its header fields and committed messages."""

    header: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    raw_texts: dict[int, str] = field(default_factory=dict)  # message index -> model text
    failed_call_ids: set[str] = field(default_factory=set)


class SessionJournal:
    def __init__(self, folder: str | Path, fsync: bool = False) -> None:
        self.folder = Path(folder)
        self.fsync = fsync
        self._locks_lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}  # one writer at a time per file
        self._owner: int | None = lock_folder(self.folder, ".lock", "session folder",
                                                SessionJournalError)

    def close(self) -> None:
        """Lets another server own the folder (idempotent)."""
        if self._owner is not None:
            os.close(self._owner)  # releases the lock
            self._owner = None

    def path(self, session_id: str) -> Path:
        if "/" in session_id or session_id in ("", ".", ".."):
            raise InvalidArgumentError(f"{session_id!r} cannot name a session file")
        return self.folder / f"{session_id}{SUFFIX}"

    def create(self, header: dict[str, Any]) -> None:
        """Starts the session's file (it must not exist yet) with its header record."""
        line = json_line({"record": "session", **{k: header.get(k) for k in HEADER_FIELDS}})
        path = self.path(header["id"])
        with self._file_lock(header["id"]):
            try:
                with path.open("x", encoding="utf-8") as f:
                    f.write(line)
                    self._sync(f)
                self._sync_folder()
            except OSError as exc:
                raise SessionJournalError(f"cannot write {path}: {exc}") from None

    def append(self, session_id: str, message: dict[str, Any], raw: str | None = None,
               ok: bool | None = None) -> None:
        """Appends one committed message and flushes it to the OS (nothing once the session
        was deleted: a run still going does not bring its file back)."""
        line = json_line({"record": "message", "message": message, "raw": raw, "ok": ok})
        path = self.path(session_id)
        with self._file_lock(session_id):
            try:
                with path.open("r+", encoding="utf-8") as f:
                    f.seek(0, os.SEEK_END)
                    f.write(line)
                    self._sync(f)
            except FileNotFoundError:
                return
            except OSError as exc:
                raise SessionJournalError(f"cannot write {path}: {exc}") from None

    def delete(self, session_id: str) -> None:
        with self._file_lock(session_id):
            try:
                os.unlink(self.path(session_id))
            except FileNotFoundError:
                return
            finally:
                with self._locks_lock:
                    self._locks.pop(session_id, None)
            try:
                self._sync_folder()
            except OSError as exc:
                raise SessionJournalError(f"cannot sync {self.folder}: {exc}") from None

    def _file_lock(self, session_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(session_id, threading.Lock())

    def _sync(self, f: Any) -> None:
        """With fsync: the file's written data on the disk before the write returns."""
        sync_file(f, self.fsync)

    def _sync_folder(self) -> None:
        """With fsync: the folder's entries (a file created or removed) on the disk."""
        if self.fsync:
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def load(self) -> tuple[list[JournaledSession], list[str]]:
        """Every session in the folder (by file name), and the problems found, each as
        "FILE:LINE: what" (skipped lines, or files that are not sessions)."""
        sessions: list[JournaledSession] = []
        problems: list[str] = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            session = _read(path, problems)
            if session is not None:
                sessions.append(session)
        return sessions, problems


def _read(path: Path, problems: list[str]) -> JournaledSession | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}:0: cannot be read ({exc}); the session is not restored")
        return None
    session: JournaledSession | None = None
    for number, text in enumerate(lines, 1):
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if session is None:
            if not _is_header(record, path):
                problems.append(f"{path}:{number}: not a session record; the file is not "
                                "restored")
                return None
            session = JournaledSession({k: record.get(k) for k in HEADER_FIELDS})
            continue
        message = record.get("message") if isinstance(record, dict) else None
        if (not isinstance(record, dict) or record.get("record") != "message"
                or not isinstance(message, dict) or not isinstance(message.get("role"), str)):
            problems.append(f"{path}:{number}: not a message record; skipped")
            continue
        if isinstance(record.get("raw"), str):
            session.raw_texts[len(session.messages)] = record["raw"]
        if record.get("ok") is False and isinstance(message.get("tool_call_id"), str):
            session.failed_call_ids.add(message["tool_call_id"])
        session.messages.append(message)
    if session is None:
        problems.append(f"{path}:1: empty; the file is not restored")
    return session


def _is_header(record: Any, path: Path) -> bool:
    return (isinstance(record, dict) and record.get("record") == "session"
            and record.get("id") == path.name[:-len(SUFFIX)]
            and isinstance(record.get("tenant"), str)
            and isinstance(record.get("tools"), list)
            and isinstance(record.get("system"), str | None)
            and isinstance(record.get("max_turns"), int)
            and isinstance(record.get("max_tokens"), int)
            and isinstance(record.get("priority", 0), int | None)
            and isinstance(record.get("lora"), str | None))
