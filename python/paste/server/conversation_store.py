"""ConversationStore: the Conversations API objects of one server (OpenAI's
/v1/conversations): a conversation is an id, its metadata and the items said in it so far.

A Responses request that names a conversation (`conversation`, responses_request.py) is
answered after the conversation's items, and once it ended (completed or incomplete) its
input items and its output items are appended to it (responses.py), so the next request
only sends what is new. Items are kept in the Responses item form, each with an id
(input_items.py), in the order they were said.

Memory: an in-memory LRU of at most `max_conversations` conversations (the server's
max_stored_responses); storing into a full store evicts the least recently used one.
Nothing is persisted. Thread-safe (one lock); values are deep copies in and out.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from paste.server.lru_store import LruStore


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

    def __init__(self, max_conversations: int) -> None:
        super().__init__(max_conversations, "max_conversations")
        self.max_conversations = max_conversations

    def create(self, items: list[dict[str, Any]], metadata: dict[str, str]) -> dict[str, Any]:
        """A new conversation holding `items`; its object."""
        entry = _Conversation(f"conv_{uuid.uuid4().hex}", int(time.time()),
                              dict(metadata), copy.deepcopy(items))
        with self._lock:
            self._insert(entry.id, entry)
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
            return entry.public()

    def delete(self, conversation_id: str) -> bool:
        with self._lock:
            return self._remove(conversation_id)

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
            return found
