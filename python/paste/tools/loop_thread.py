"""LoopThread: an asyncio event loop running in its own daemon thread.

Used by the executor (async tools, timeouts) and by the registry's MCP sessions. Coroutines are
submitted from any thread with `submit` (a concurrent.futures.Future back); `close` cancels
what is still pending, shuts down async generators and the default executor, stops the loop,
joins the thread and closes the loop. After close, `submit` raises ExecutorClosedError.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from paste.tools.errors import ExecutorClosedError

T = TypeVar("T")


class LoopThread:
    """Owns one event loop and the thread running it, from construction until close()."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        with self._lock:
            if self._closed:
                coro.close()
                raise ExecutorClosedError("event loop thread is closed")
            return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) on the loop thread (dropped silently after close)."""
        with self._lock:
            if not self._closed:
                self.loop.call_soon_threadsafe(fn, *args)

    def close(self, timeout_s: float = 10.0) -> None:
        """Cancel pending tasks (waiting up to timeout_s for them), stop and close the loop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread.is_alive():
            shutdown = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
            try:
                shutdown.result(timeout_s)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.loop.close()

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.loop.shutdown_asyncgens()
        await self.loop.shutdown_default_executor()
