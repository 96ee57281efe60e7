"""LruStore: the bounded, thread-safe least-recently-used map under the server's in-memory
stores (stored responses: response_store.py; conversations: conversation_store.py).

Entries are kept by id, least recently used first. One lock guards them; a store's methods
take it and call the helpers below under it: `_touch` (read, now the most recently used),
`_insert` (store as the most recently used, then evict the least recently used while more
than `capacity` are kept; returns the evicted keys) and `_remove`. With a `journal`
(store_journal.py, `paste serve --response-dir`), `_journal(record)` writes one change down,
under the lock so the file's order is the store's; which records a store writes and how it
restores them are its own (response_journal.py, conversation_store.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from paste.errors import InvalidArgumentError
from paste.server.store_journal import StoreJournal

T = TypeVar("T")


class LruStore(Generic[T]):
    def __init__(self, capacity: int, what: str, journal: StoreJournal | None = None) -> None:
        """`what`: the capacity's name in the error for one below 1; `journal`: where the
        store's changes are written down (None: nowhere)."""
        if capacity < 1:
            raise InvalidArgumentError(f"{what} must be >= 1, got {capacity}")
        self.capacity = capacity
        self.journal = journal
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, T] = OrderedDict()  # oldest use first

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _journal(self, record: dict[str, Any]) -> None:
        """Writes one change down (nothing without a journal); under the lock."""
        if self.journal is not None:
            self.journal.record(record)

    def _touch(self, key: str) -> T | None:
        """The entry of `key`, now the most recently used (None if unknown); under the lock."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def _insert(self, key: str, entry: T) -> list[str]:
        """Stores `entry` as the most recently used; evicts the least recently used while
        over capacity and returns their keys. Under the lock."""
        self._entries[key] = entry
        self._entries.move_to_end(key)
        evicted = []
        while len(self._entries) > self.capacity:
            evicted.append(self._entries.popitem(last=False)[0])
        return evicted

    def _remove(self, key: str) -> bool:
        """Forgets `key`; False if it was not stored. Under the lock."""
        return self._entries.pop(key, None) is not None
