"""SessionStore: the native agent sessions of one server (paste.session on the server's tools).

A session's tools are chosen by name from the server's ToolRegistry. The model must not be
able to run a tool the session was not given, so each distinct set of names gets its own
registry subset and ToolExecutor (cached: servers use few distinct sets); all are shut down
with the store. Sessions live until DELETE or server shutdown. A session with tools speculates
when the server does (`speculation`: server/speculation.py, one Speculator per tool set);
`session_options` (early_dispatch, kv_retention, coscheduling, strict_calls) go to open_session.

Thread-safety: the store's maps are guarded by one lock; a session itself is driven by one
request at a time (`begin_run` / `end_run`, 409 otherwise).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from paste.engine.request import GenerationParams
from paste.server.errors import BadRequestError, ConflictError, NotFoundError
from paste.server.generation import context_limit
from paste.session import Session, open_session
from paste.tools import ToolExecutor, ToolRegistry

_TENANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class SessionStore:
    def __init__(self, engine: Any, registry: ToolRegistry, parser_format: str,
                 speculation: Any = None, **session_options: Any) -> None:  # fmt: skip
        self.engine = engine
        self.registry = registry
        self.parser_format = parser_format
        self.speculation = speculation  # ServerSpeculation, or None: serial tools
        self.session_options = session_options
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._running: set[str] = set()
        self._tool_names: dict[str, tuple[str, ...]] = {}
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
        max_tokens: int, environment: Any = None,
    ) -> Session:  # fmt: skip
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
        subset, executor = self._tools(names)
        speculator = None
        if self.speculation is not None and names:
            speculator = self.speculation.speculator(names, subset, executor)
        session = open_session(
            self.engine, tools=subset, system=system, tenant=tenant, max_turns=max_turns,
            parser=self.parser_format, turn_params=GenerationParams(max_tokens=max_tokens),
            executor=executor, speculator=speculator, environment=environment,
            **self.session_options,
        )  # fmt: skip
        with self._lock:
            self._sessions[session.session_id] = session
            self._tool_names[session.session_id] = names
        return session

    def tool_names(self, session_id: str) -> list[str]:
        with self._lock:
            return list(self._tool_names.get(session_id, ()))

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
        with self._lock:
            self._sessions.pop(session_id, None)
            self._tool_names.pop(session_id, None)
        session.close()

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
