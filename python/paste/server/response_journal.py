"""The stored responses' journal (`paste serve --response-dir DIR`, a StoreJournal named
"responses": DIR/responses.log, store_journal.py), so GET, input_items and
previous_response_id chains work across restarts. Its records, in the order the store
(server/response_store.py) changed:

    {"record": "put", "id", "parent", "response", "own", "length", "cache_key", "auto_key",
     "input_items"}     a response stored (again: a background response's later snapshot)
    {"record": "delete", "id"}   a response deleted or evicted from the bounded store
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paste.server.store_journal import StoreJournal

NAME = "responses"


def response_journal(folder: str | Path, fsync: bool = False) -> StoreJournal:
    return StoreJournal(folder, NAME, fsync)


def is_record(record: Any) -> bool:
    """A well-formed put or delete record."""
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return False
    if record.get("record") == "delete":
        return True
    return (record.get("record") == "put" and isinstance(record.get("response"), dict)
            and isinstance(record.get("parent"), str | None)
            and isinstance(record.get("own"), list)
            and all(isinstance(m, dict) for m in record["own"])
            and isinstance(record.get("length"), int)
            and isinstance(record.get("cache_key"), str | None)
            and isinstance(record.get("auto_key"), bool)
            and isinstance(record.get("input_items"), list))
