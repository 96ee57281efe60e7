"""McpServerConnection: one MCP server subprocess and its client session, kept alive on a loop.

The `mcp` SDK's stdio transport and ClientSession are anyio context managers that must be
entered and exited by the same task, so one long-lived task (`_serve`) on the registry's
LoopThread opens them, initialises the session, signals ready and then waits for close(). Calls
are separate tasks on the same loop using that session; any thread can start them with
`call()`, which returns a concurrent.futures.Future (cancelling it cancels the MCP request).

Lifetime: from construction (the server is started and initialised, or McpConnectionError is
raised) until close(), which ends the session and stops the server process (the SDK closes its
stdin, then terminates it, each step bounded).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from paste.tools.errors import McpConnectionError, McpToolError
from paste.tools.loop_thread import LoopThread
from paste.tools.spec import EffectClass


class McpServerConnection:
    """A started, initialised MCP server reached over stdio."""

    def __init__(
        self,
        cmd: Sequence[str],
        loop: LoopThread,
        env: Mapping[str, str] | None = None,
        errlog: TextIO | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        from mcp import StdioServerParameters  # lazy: the mcp SDK is an optional dependency

        if not cmd:
            raise McpConnectionError("an MCP server command must not be empty")
        self.cmd = list(cmd)
        self._loop = loop
        self._session: Any = None
        self._stop: asyncio.Event | None = None
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        params = StdioServerParameters(
            command=self.cmd[0], args=self.cmd[1:], env=dict(env) if env else None
        )
        self._serving = loop.submit(self._serve(params, errlog or sys.stderr))
        done, _ = concurrent.futures.wait(
            [self._ready, self._serving],
            timeout=startup_timeout_s,
            return_when=concurrent.futures.FIRST_COMPLETED,
        )
        if self._ready not in done:
            self._serving.cancel()
            reason = _describe(self._serving) if self._serving in done else "timed out"
            raise McpConnectionError(f"MCP server {self.cmd} failed to start: {reason}")

    async def _serve(self, params: Any, errlog: TextIO) -> None:
        from mcp import ClientSession, stdio_client

        self._stop = asyncio.Event()
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                self._session = session
                self._ready.set_result(None)
                await self._stop.wait()
        self._session = None

    def list_tools(self, timeout_s: float = 30.0) -> list[Any]:
        """Every tool the server offers (all pages), as mcp Tool objects."""
        try:
            return self._loop.submit(self._list_tools()).result(timeout_s)
        except Exception as e:
            raise McpConnectionError(f"listing tools of MCP server {self.cmd} failed: {e}") from e

    async def _list_tools(self) -> list[Any]:
        from mcp.types import PaginatedRequestParams

        session = self._require_session()
        tools: list[Any] = []
        cursor: str | None = None
        while True:
            params = PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                return tools

    def call(self, name: str, arguments: Mapping[str, Any]) -> concurrent.futures.Future[str]:
        """Start tools/call; the future gives the result text or raises McpToolError."""
        return self._loop.submit(self._call(name, dict(arguments)))

    async def _call(self, name: str, arguments: dict[str, Any]) -> str:
        session = self._require_session()
        try:
            result = await session.call_tool(name, arguments)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # mcp.MCPError (protocol error), closed streams
            raise McpToolError(f"MCP call {name!r} failed: {type(e).__name__}: {e}") from None
        text = render_call_result(result)
        if result.is_error:
            raise McpToolError(text)
        return text

    def _require_session(self) -> Any:
        if self._session is None:
            raise McpConnectionError(f"MCP session of {self.cmd} is closed")
        return self._session

    def close(self, timeout_s: float = 15.0) -> None:
        """End the session and stop the server process (idempotent)."""
        stop = self._stop
        if stop is not None:
            self._loop.call_soon(stop.set)
        try:
            self._serving.result(timeout_s)
        except Exception:  # already failed, cancelled or stuck: the loop's close cancels it
            pass


def effect_from_annotations(annotations: Any) -> EffectClass:
    """readOnlyHint -> read_only; destructiveHint False + idempotentHint -> idempotent; else
    side_effect (the MCP defaults: destructive, not idempotent)."""
    if annotations is None:
        return EffectClass.SIDE_EFFECT
    if getattr(annotations, "read_only_hint", None) is True:
        return EffectClass.READ_ONLY
    destructive = getattr(annotations, "destructive_hint", None)
    if destructive is False and getattr(annotations, "idempotent_hint", None) is True:
        return EffectClass.IDEMPOTENT
    return EffectClass.SIDE_EFFECT


def render_call_result(result: Any) -> str:
    """Text blocks joined by newlines; other blocks as compact JSON; structured content when
    there are no blocks at all."""
    parts: list[str] = []
    for block in result.content:
        if getattr(block, "type", None) == "text":
            parts.append(block.text)
        else:
            dumped = block.model_dump(mode="json", by_alias=True, exclude_none=True)
            parts.append(json.dumps(dumped, ensure_ascii=False))
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return "\n".join(parts)


def _describe(future: concurrent.futures.Future[Any]) -> str:
    try:
        error = future.exception(0)
    except concurrent.futures.CancelledError:
        return "cancelled"
    if error is None:
        return "the session ended during startup"
    while (inner := getattr(error, "exceptions", None)) and len(inner) == 1:  # exception groups
        error = inner[0]
    return f"{type(error).__name__}: {error}"
