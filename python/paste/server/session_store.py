"""SessionStore: the native agent sessions of one server (paste.session on the server's tools).

A session's tools are chosen by name from the server's ToolRegistry. The model must not be
able to run a tool the session was not given, so each distinct set of names gets its own
registry subset and ToolExecutor (cached: servers use few distinct sets); all are shut down
with the store. Sessions live until DELETE or server shutdown. A session with tools speculates
when the server does (`speculation`: server/speculation.py, one Speculator per tool set);
`session_options` (early_dispatch, kv_retention, coscheduling, strict_calls) go to open_session.
The turns of a tenant other than `default` carry the cache salt `tenant:<tenant>`
(`tenant_salt`): its sessions share cached prompt KV with each other, never with another
tenant's requests (which could otherwise time whether a prompt was seen before).

With a SessionJournal (`paste serve --session-dir`), every session is written down as it
commits messages and `restore()` brings the journaled sessions back when the server starts:
same ids, tools, transcripts; a run cut off by the restart gets its unanswered calls answered
(session/restore.py). A journal write that fails is logged and counted (`num_failed_writes`);
the session goes on in memory.

Thread-safety: the store's maps are guarded by one lock; a session itself is driven by one
request at a time (`begin_run` / `end_run`, 409 otherwise).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from paste.engine.request import GenerationParams
from paste.engine.stats import served_lora_adapters
from paste.errors import InvalidArgumentError
from paste.server.errors import BadRequestError, ConflictError, NotFoundError
from paste.server.fields import class_base
from paste.server.generation import context_limit
from paste.server.session_journal import JournaledSession, SessionJournal, SessionJournalError
from paste.session import Session, open_session
from paste.tools import ToolExecutor, ToolRegistry

_TENANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
log = logging.getLogger("paste.server")


def tenant_salt(tenant: str) -> str | None:
    """The cache salt of a tenant's sessions: their prompts share cached KV blocks only
    with sessions of the same tenant (none for the default tenant)."""
    return None if tenant == "default" else f"tenant:{tenant}"


class SessionStore:
    def __init__(self, engine: Any, registry: ToolRegistry, parser_format: str,
                 speculation: Any = None, journal: SessionJournal | None = None,
                 turn_log: Callable[[str], Any] | None = None,
                 **session_options: Any) -> None:  # fmt: skip
        self.engine = engine
        # session id -> the engine proxy logging its turns (session_log.py); None: no log
        self.turn_log = turn_log
        self.journal = journal
        self.num_failed_writes = 0  # journal lines that could not be written
        self.num_restored = 0  # sessions restore() brought back
        self.registry = registry
        self.parser_format = parser_format
        self.speculation = speculation  # ServerSpeculation, or None: serial tools
        self.session_options = session_options
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._running: set[str] = set()
        self._tool_names: dict[str, tuple[str, ...]] = {}
        self._lora: dict[str, str | None] = {}  # the LoRA adapter each session runs
        self._executors: dict[tuple[str, ...], tuple[ToolRegistry, ToolExecutor]] = {}

    def _tools(self, names: tuple[str, ...]) -> tuple[ToolRegistry, ToolExecutor]:
        with self._lock:
            entry = self._executors.get(names)
            if entry is None:
                subset = ToolRegistry()
                for name in names:
                    subset.add_spec(self.registry.get(name))
                entry = self._executors[names] = (subset, ToolExecutor(subset))
            return entry

    def create(
        self, tool_names: list[str] | None, tenant: str, system: str | None, max_turns: int,
        max_tokens: int, environment: Any = None, priority: int = 0, lora: str | None = None,
    ) -> Session:  # fmt: skip
        """A new session; `priority` is the request's (vLLM's: lower runs first, fields.py);
        `lora` the engine's LoRA adapter its turns run (None: the base model)."""
        if not _TENANT.match(tenant):
            raise BadRequestError("'tenant' must be 1-64 characters of A-Z a-z 0-9 _ . -",
                                  param="tenant")  # fmt: skip
        names = tuple(self.registry.names() if tool_names is None else tool_names)
        unknown = [n for n in names if n not in self.registry]
        if unknown:
            raise BadRequestError(
                f"unknown tools {unknown}; this server has {self.registry.names()}",
                param="tools", code="unknown_tool",
            )  # fmt: skip
        if len(set(names)) != len(names):
            raise BadRequestError("'tools' lists a tool twice", param="tools")
        limit = context_limit(self.engine)
        max_tokens = min(max_tokens, limit) if limit is not None else max_tokens
        session_id = f"{tenant}-{uuid.uuid4().hex[:16]}"
        if self.journal is not None:
            self.journal.create({"id": session_id, "tenant": tenant, "tools": list(names),
                                 "system": system, "max_turns": max_turns,
                                 "max_tokens": max_tokens, "environment": environment,
                                 "priority": priority, "lora": lora,
                                 "created_at": int(time.time())})  # fmt: skip
        try:
            return self._open(session_id, names, tenant, system, max_turns, max_tokens,
                              environment, priority, self._writer(session_id), lora=lora)
        except BaseException:
            if self.journal is not None:  # no file for a session that never was
                self.journal.delete(session_id)
            raise

    def _open(self, session_id: str, names: tuple[str, ...], tenant: str, system: str | None,
              max_turns: int, max_tokens: int, environment: Any, priority: int,
              on_commit: Any = None, lora: str | None = None) -> Session:  # fmt: skip
        subset, executor = self._tools(names)
        speculator = None
        if self.speculation is not None and names:
            speculator = self.speculation.speculator(names, subset, executor)
        engine = self.engine if self.turn_log is None else self.turn_log(session_id)
        session = open_session(
            engine, tools=subset, system=system, tenant=tenant, max_turns=max_turns,
            parser=self.parser_format,
            turn_params=GenerationParams(max_tokens=max_tokens, cache_salt=tenant_salt(tenant),
                                         lora=lora),
            executor=executor, speculator=speculator, environment=environment,
            session_id=session_id, on_commit=on_commit, priority=class_base(priority),
            **self.session_options,
        )  # fmt: skip
        with self._lock:
            self._sessions[session.session_id] = session
            self._tool_names[session.session_id] = names
            self._lora[session.session_id] = lora
        return session

    def _writer(self, session_id: str) -> Any:
        """The session's on_commit: its journal line (None without a journal)."""
        journal = self.journal
        if journal is None:
            return None

        def write(message: dict[str, Any], raw: str | None, ok: bool | None) -> None:
            try:
                journal.append(session_id, message, raw, ok)
            except SessionJournalError as exc:  # the session goes on in memory
                self.num_failed_writes += 1
                log.error("session %s: %s", session_id, exc)

        return write

    def restore(self) -> list[str]:
        """Brings back every journaled session (server start); returns the problems found,
        each naming its file (sessions whose tools this server lacks are not restored)."""
        if self.journal is None:
            return []
        journaled, problems = self.journal.load()
        with self._lock:
            live = set(self._sessions)
        for entry in journaled:
            if entry.header["id"] in live:  # running here already
                continue
            problem = self._restore(self.journal, entry)
            if problem is not None:
                problems.append(problem)
            else:
                self.num_restored += 1
        for problem in problems:
            log.warning("session journal: %s", problem)
        return problems

    def _restore(self, journal: SessionJournal, entry: JournaledSession) -> str | None:
        h = entry.header
        names = tuple(h["tools"])
        missing = [n for n in names if not isinstance(n, str) or n not in self.registry]
        if missing:
            return (f"{journal.path(h['id'])}: tools {missing} are not on this server; the "
                    "session is not restored")
        served = [name for name, _path in served_lora_adapters(self.engine)]
        if h["lora"] is not None and h["lora"] not in served:
            return (f"{journal.path(h['id'])}: its LoRA adapter {h['lora']!r} is not served "
                    "here (--lora-modules); the session is not restored")
        try:
            session = self._open(h["id"], names, h["tenant"], h["system"], h["max_turns"],
                                 h["max_tokens"], h["environment"], h["priority"] or 0,
                                 lora=h["lora"])
            added = session.restore(entry.messages, entry.raw_texts, entry.failed_call_ids)
        except InvalidArgumentError as exc:
            self._forget(h["id"])
            return f"{h['id']}: {exc}; the session is not restored"
        session.on_commit = self._writer(session.session_id)
        for message in added:  # the answers to calls cut off by the restart
            session.on_commit(message, None, False)
        return None

    def _forget(self, session_id: str) -> Session | None:
        with self._lock:
            self._tool_names.pop(session_id, None)
            self._lora.pop(session_id, None)
            return self._sessions.pop(session_id, None)

    def tool_names(self, session_id: str) -> list[str]:
        with self._lock:
            return list(self._tool_names.get(session_id, ()))

    def lora(self, session_id: str) -> str | None:
        """The LoRA adapter the session's turns run (None: the base model)."""
        with self._lock:
            return self._lora.get(session_id)

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise NotFoundError(f"no session {session_id!r}", param="session_id",
                                code="session_not_found")  # fmt: skip
        return session

    def begin_run(self, session_id: str) -> Session:
        session = self.get(session_id)
        with self._lock:
            if session_id in self._running:
                raise ConflictError(f"session {session_id!r} is already running a message",
                                    code="session_busy")  # fmt: skip
            self._running.add(session_id)
        return session

    def end_run(self, session_id: str) -> None:
        with self._lock:
            self._running.discard(session_id)

    def delete(self, session_id: str) -> None:
        session = self.get(session_id)
        self._forget(session_id)
        session.close()
        if self.journal is not None:
            self.journal.delete(session_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def close(self) -> None:
        """Close every session and shut down the executors (server shutdown)."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
            executors, self._executors = list(self._executors.values()), {}
        for session in sessions:
            session.close()
        if self.speculation is not None:
            self.speculation.close()
        for _subset, executor in executors:
            executor.shutdown(wait=False)
        if self.journal is not None:
            self.journal.close()
