"""Run one tool call in a fresh subprocess so that a crash cannot take the engine down.

Protocol: the parent starts a child (multiprocessing "spawn" context by default: safe in a
multi-threaded engine, the tool must be importable by qualified name) with the tool's target,
its keyword arguments and one end of a pipe. The child runs the tool (asyncio.run for async
tools), renders the result to text itself (so unpicklable results are fine) and sends exactly one
message: ("ok", text) or ("error", "<Type>: <message>"). The parent waits up to the timeout:
no message and the child exited -> crashed (exit code / signal); still running -> killed, timeout.

Lifetime: a ProcessRun owns its child from start() until wait() returns; kill() may be called
from any thread at any time (used by cancel and shutdown) and makes wait() return "killed".
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import multiprocessing.connection
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from paste.tools.results import render_result

Outcome = Literal["ok", "error", "timeout", "crashed", "killed"]


@dataclass(frozen=True)
class ProcessOutcome:
    """`text` is the rendered result (ok) or the error / crash description (otherwise)."""

    kind: Outcome
    text: str


def _child_main(
    conn: multiprocessing.connection.Connection, target: Callable[..., Any], kwargs: dict[str, Any]
) -> None:
    try:
        value = target(**kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_await(value))
        message = ("ok", render_result(value))
    except BaseException as e:  # the child reports everything; the parent decides
        message = ("error", f"{type(e).__name__}: {e}")
    conn.send(message)
    conn.close()


async def _await(awaitable: Any) -> Any:
    return await awaitable


class ProcessRun:
    """One child process running one call."""

    def __init__(
        self,
        target: Callable[..., Any],
        kwargs: dict[str, Any],
        context: multiprocessing.context.BaseContext,
    ) -> None:
        self._parent_conn, child_conn = context.Pipe(duplex=False)
        self._process = context.Process(  # type: ignore[attr-defined]
            target=_child_main, args=(child_conn, target, kwargs), daemon=True
        )
        self._child_conn = child_conn
        self._killed = threading.Event()

    def start(self) -> None:
        """Start the child unless already killed; raises (e.g. pickling errors) on failure."""
        try:
            if not self._killed.is_set():
                self._process.start()
                if self._killed.is_set():  # kill() ran during start, saw no pid yet: kill now
                    self._process.kill()
        finally:
            self._child_conn.close()  # the parent keeps only the read end

    def kill(self) -> None:
        """Kill the child now (idempotent, any thread)."""
        self._killed.set()
        if self._process.pid is not None and self._process.exitcode is None:
            self._process.kill()

    def wait(self, timeout_s: float) -> ProcessOutcome:
        """Wait for the message or the child's end, at most timeout_s; always reaps the child."""
        if self._process.pid is None:  # killed before it started
            self._parent_conn.close()
            return ProcessOutcome("killed", "killed")
        try:
            return self._wait(timeout_s)
        finally:
            if self._process.exitcode is None:
                self._process.kill()
            self._process.join()
            self._parent_conn.close()
            self._process.close()

    def _wait(self, timeout_s: float) -> ProcessOutcome:
        ready = multiprocessing.connection.wait(
            [self._parent_conn, self._process.sentinel], timeout_s
        )
        if self._killed.is_set():
            return ProcessOutcome("killed", "killed")
        if self._parent_conn in ready or self._parent_conn.poll():
            try:
                kind, text = self._parent_conn.recv()
                return ProcessOutcome(kind, text)
            except (EOFError, OSError):
                pass  # the child died mid-send: fall through to the exit status
        if not ready:
            self._process.kill()
            return ProcessOutcome("timeout", f"killed after {timeout_s:g} s")
        self._process.join()
        return ProcessOutcome("crashed", describe_exit(self._process.exitcode))


def describe_exit(exitcode: int | None) -> str:
    """'exit code 3' or 'killed by signal SIGSEGV' for a child's exit status."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
