"""ResponseStore: the stored Responses API answers of one server, for previous_response_id.

OpenAI's Responses API is stateful: a response created with `store` (the default) can be
fetched (GET /v1/responses/{id}), deleted, and continued by a later request that names it as
`previous_response_id` instead of resending the conversation. For each stored response this
keeps what that needs:

    response   the response object as returned (its final snapshot)
    messages   the whole conversation as of that response, in the normalised chat form of
               turn.py: the messages its turn was built from without the instructions' system
               message (instructions are not carried along a chain), then the response's own
               output as one assistant message (its text, and its calls as `tool_calls`)
    cache_key  the engine conversation key its KV is parked under (TurnRequest.cache_key),
               which a chained request without a prompt_cache_key inherits, so the engine
               appends only the new tokens to the parked sequence
    auto_key   whether that key was derived (no prompt_cache_key along the chain): the server
               then keeps it parked only while the chain waits on tool outputs (responses.py)
    input_items  the items its request gave as `input`, with ids (input_items.py), for
               GET /v1/responses/{id}/input_items

Memory is linear in a chain's length: a response stored with its `parent` (the previous
response of its chain) keeps only the messages it added (its new input and its output); its
whole conversation is rebuilt by walking the chain when it is read. (Keeping each response's
whole conversation would hold a chain of N turns N times over.)

It is an in-memory LRU bounded by ServerConfig.max_stored_responses: storing into a full
store evicts the least recently stored or read response; reading a response (a chained
request reads its previous one) also refreshes every earlier response of its chain, so a
chain in use stays whole. With a journal (`paste serve --response-dir DIR`,
response_journal.py) every store, delete and eviction is written down as it happens and
`restore()` brings the stored responses back at start: chains, input items, parked-KV keys
(the KV itself is not kept: a chained request after a restart prefills its conversation), in
the order they were stored (reads are not journaled). A background response that was still
queued or in progress when the server went down comes back failed (its turn is gone). Without a
journal nothing is persisted; a restarted server knows no responses.
Deleting or evicting one response leaves the rest of its chain stored (as OpenAI does) but
breaks the conversations of its later responses: reading them gives None, as for an unknown
id (a clear 404, rather than OpenAI's silently shortened history). The parked KV is left to
the engine (pin expiry, reclaiming, EngineConfig.session_idle_s).

Thread-safe (one lock): the routes run on the event loop, tests and tools may call from
threads. Stored values are deep copies in and out, so neither the caller nor the store can
change what the other holds.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

from paste.server.errors import error_body
from paste.server.lru_store import LruStore
from paste.server.response_journal import is_record
from paste.server.store_journal import StoreJournal

RESTARTED = "the server restarted before this response finished"


@dataclass(frozen=True)
class StoredResponse:
    response: dict[str, Any]
    messages: list[dict[str, Any]]
    cache_key: str | None
    auto_key: bool = False  # cache_key was derived, not a client's prompt_cache_key
    input_items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Entry:
    response: dict[str, Any]
    own: list[dict[str, Any]]  # the messages after the parent's conversation (all: a root)
    parent: str | None
    length: int  # messages of the whole conversation
    cache_key: str | None
    auto_key: bool
    input_items: list[dict[str, Any]]


class ResponseStore(LruStore[_Entry]):
    """A bounded LRU of stored responses by id (see the module docstring)."""

    def __init__(self, max_stored_responses: int,
                 journal: StoreJournal | None = None) -> None:
        super().__init__(max_stored_responses, "max_stored_responses", journal)
        self.max_stored_responses = max_stored_responses

    def put(self, stored: StoredResponse, parent: str | None = None) -> None:
        """Stores `stored` under its response's id (most recent); `parent`: the previous
        response of its chain, whose conversation `stored.messages` starts with (only the
        rest is kept; all of it if the parent is no longer stored). Evicts the least
        recently used responses while the store is over capacity."""
        response_id = stored.response["id"]
        with self._lock:
            up = self._entries.get(parent) if parent is not None else None
            skip = up.length if up is not None else 0
            entry = _Entry(copy.deepcopy(stored.response), copy.deepcopy(stored.messages[skip:]),
                           parent if up is not None else None, len(stored.messages),
                           stored.cache_key, stored.auto_key,
                           copy.deepcopy(stored.input_items))
            evicted = self._insert(response_id, entry)
            self._journal(_record(response_id, entry))
            for gone in evicted:
                self._journal({"record": "delete", "id": gone})

    def get(self, response_id: str) -> StoredResponse | None:
        """A copy of the stored response with its whole conversation (it and every earlier
        response of its chain now the most recently used); None if it or an earlier
        response of its chain is not stored."""
        with self._lock:
            chain = []
            at: str | None = response_id
            while at is not None:
                entry = self._entries.get(at)
                if entry is None:
                    return None
                chain.append((at, entry))
                at = entry.parent
            for at, _ in reversed(chain):  # oldest first: the asked one ends most recent
                self._entries.move_to_end(at)
            head = chain[0][1]
            messages = [m for _, e in reversed(chain) for m in e.own]
            return StoredResponse(copy.deepcopy(head.response), copy.deepcopy(messages),
                                  head.cache_key, head.auto_key,
                                  copy.deepcopy(head.input_items))

    def response(self, response_id: str) -> dict[str, Any] | None:
        """A copy of the stored response object (GET; it is now the most recently used),
        without rebuilding its conversation; None if unknown."""
        with self._lock:
            entry = self._touch(response_id)
            return None if entry is None else copy.deepcopy(entry.response)

    def input_items(self, response_id: str) -> list[dict[str, Any]] | None:
        """A copy of the input items of a stored response (it is now the most recently
        used); None if unknown."""
        with self._lock:
            entry = self._touch(response_id)
            return None if entry is None else copy.deepcopy(entry.input_items)

    def num_messages(self) -> int:
        """Messages held for all stored responses (each once: linear in a chain's length)."""
        with self._lock:
            return sum(len(e.own) for e in self._entries.values())

    def delete(self, response_id: str) -> bool:
        """Forgets one response; False if it was not stored."""
        with self._lock:
            if not self._remove(response_id):
                return False
            self._journal({"record": "delete", "id": response_id})
            return True

    def ids(self) -> list[str]:
        """The stored response ids, least recently used first."""
        with self._lock:
            return list(self._entries)

    def restore(self) -> list[str]:
        """Replays the journal (server start: the store is empty), rewrites it with the
        responses still stored, and returns the problems found (each naming its line, also
        logged as warnings)."""
        if self.journal is None:
            return []
        records, problems = self.journal.load(is_record)
        with self._lock:
            for record in records:
                if record["record"] == "delete":
                    self._remove(record["id"])
                    continue
                response = record["response"]
                if response.get("status") in ("queued", "in_progress"):
                    response = dict(response, status="failed",
                                    error=error_body(RESTARTED, "server_error")["error"])
                self._insert(record["id"], _Entry(
                    response, record["own"], record["parent"], record["length"],
                    record["cache_key"], record["auto_key"], record["input_items"]))
            puts = [_record(rid, entry) for rid, entry in self._entries.items()]
        return self.journal.compact(puts, problems)


def _record(response_id: str, entry: _Entry) -> dict[str, Any]:
    """The journal's put record of an entry (response_journal.py)."""
    return {"record": "put", "id": response_id, **asdict(entry)}
