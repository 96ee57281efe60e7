"""ConversationStore: the Conversations API objects of one server (OpenAI's
/v1/conversations): a conversation is an id, its metadata and the items said in it so far.

A Responses request that names a conversation (`conversation`, responses_request.py) is
answered after the conversation's items, and once it ended (completed or incomplete) its
input items and its output items are appended to it (responses.py), so the next request
only sends what is new. Items are kept in the Responses item form, each with an id
(input_items.py), in the order they were said.

Memory: an in-memory LRU of at most `max_conversations` conversations (the server's
max_stored_responses); storing into a full store evicts the least recently used one.
Thread-safe (one lock); values are deep copies in and out.

With a journal (`paste serve --response-dir DIR`: a StoreJournal named "conversations",
DIR/conversations.log, store_journal.py) every change is written down as it happens, under the
store's lock so the file's order is the store's:

    {"record": "create", "id", "created_at", "metadata", "items"}   (also how restore()
                                                   rewrites the file: one per conversation)
    {"record": "metadata", "id", "metadata"}       {"record": "add_items", "id", "items"}
    {"record": "delete_item", "id", "item_id"}     {"record": "delete", "id"} (deleted or
                                                   evicted)

and `restore()` replays them at start. Without one nothing is persisted.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paste.server.lru_store import LruStore
from paste.server.store_journal import StoreJournal

NAME = "conversations"
_FIELDS: dict[str, dict[str, type]] = {  # record kind -> its fields' types, beside "id"
    "create": {"created_at": int, "metadata": dict, "items": list},
    "metadata": {"metadata": dict}, "add_items": {"items": list},
    "delete_item": {"item_id": str}, "delete": {}}


def conversation_journal(folder: str | Path, fsync: bool = False) -> StoreJournal:
    return StoreJournal(folder, NAME, fsync)


def is_record(record: Any) -> bool:
    """A well-formed conversation journal record (module docstring)."""
    fields = _FIELDS.get(str(record.get("record"))) if isinstance(record, dict) else None
    return (fields is not None and isinstance(record.get("id"), str)
            and all(isinstance(record.get(k), t) for k, t in fields.items()))


@dataclass
class _Conversation:
    id: str
    created_at: int
    metadata: dict[str, str]
    items: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """The conversation object as the API returns it (its items are listed apart)."""
        return {"id": self.id, "object": "conversation", "created_at": self.created_at,
                "metadata": dict(self.metadata)}  # fmt: skip


class ConversationStore(LruStore[_Conversation]):
    """A bounded LRU of conversations by id (see the module docstring)."""

    def __init__(self, max_conversations: int, journal: StoreJournal | None = None) -> None:
        super().__init__(max_conversations, "max_conversations", journal)
        self.max_conversations = max_conversations

    def create(self, items: list[dict[str, Any]], metadata: dict[str, str]) -> dict[str, Any]:
        """A new conversation holding `items`; its object."""
        entry = _Conversation(f"conv_{uuid.uuid4().hex}", int(time.time()),
                              dict(metadata), copy.deepcopy(items))
        with self._lock:
            for gone in self._insert(entry.id, entry):
                self._write("delete", gone)
            self._write("create", entry.id, created_at=entry.created_at,
                        metadata=entry.metadata, items=entry.items)
            return entry.public()

    def get(self, conversation_id: str) -> dict[str, Any] | None:
        """The conversation object; None if unknown (never, deleted or evicted)."""
        with self._lock:
            entry = self._touch(conversation_id)
            return entry.public() if entry is not None else None

    def update(self, conversation_id: str, metadata: dict[str, str]) -> dict[str, Any] | None:
        """Replaces the conversation's metadata; its object, or None if unknown."""
        with self._lock:
            entry = self._touch(conversation_id)
            if entry is None:
                return None
            entry.metadata = dict(metadata)
            self._write("metadata", conversation_id, metadata=entry.metadata)
            return entry.public()

    def delete(self, conversation_id: str) -> bool:
        with self._lock:
            if not self._remove(conversation_id):
                return False
            self._write("delete", conversation_id)
            return True

    def items(self, conversation_id: str) -> list[dict[str, Any]] | None:
        """A copy of the conversation's items, oldest first; None if unknown."""
        with self._lock:
            entry = self._touch(conversation_id)
            return copy.deepcopy(entry.items) if entry is not None else None

    def add_items(self, conversation_id: str,
                  items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Appends `items`; a copy of them, or None if the conversation is unknown."""
        with self._lock:
            entry = self._touch(conversation_id)
            if entry is None:
                return None
            entry.items.extend(copy.deepcopy(items))
            self._write("add_items", conversation_id, items=items)
            return copy.deepcopy(items)

    def delete_item(self, conversation_id: str, item_id: str) -> bool | None:
        """Removes the item `item_id`: True, False if the conversation has no such item,
        None if the conversation is unknown."""
        with self._lock:
            entry = self._touch(conversation_id)
            if entry is None:
                return None
            kept = [item for item in entry.items if item.get("id") != item_id]
            found = len(kept) < len(entry.items)
            entry.items = kept
            if found:
                self._write("delete_item", conversation_id, item_id=item_id)
            return found

    def _write(self, kind: str, conversation_id: str, **fields: Any) -> None:
        """Journals one change of a conversation (LruStore._journal)."""
        self._journal({"record": kind, "id": conversation_id, **fields})

    def restore(self) -> list[str]:
        """Replays the journal (server start: the store is empty), rewrites it with one create
        record per conversation still stored, and returns the problems found (also logged
        as warnings)."""
        if self.journal is None:
            return []
        records, problems = self.journal.load(is_record)
        with self._lock:
            for r in records:
                kind, cid = r["record"], r["id"]
                if kind == "create":
                    self._insert(cid, _Conversation(cid, r["created_at"], r["metadata"],
                                                    r["items"]))
                    continue
                entry = self._entries.get(cid)
                if entry is None:
                    problems.append(f"{self.journal.path}: a {kind} record of conversation "
                                    f"{cid}, which is not stored; skipped")
                elif kind == "delete":
                    self._remove(cid)
                elif kind == "metadata":
                    entry.metadata = r["metadata"]
                elif kind == "add_items":
                    entry.items.extend(r["items"])
                else:
                    entry.items = [i for i in entry.items if i.get("id") != r["item_id"]]
            creates = [{"record": "create", "id": e.id, "created_at": e.created_at,
                        "metadata": e.metadata, "items": e.items}
                       for e in self._entries.values()]
        return self.journal.compact(creates, problems)
