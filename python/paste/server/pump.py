"""ThreadPump: a blocking iterator (an engine RequestHandle, a Session.stream) read on its own
thread and consumed from asyncio.

Why a thread per stream: RequestHandle and Session.stream block on queues and tool futures;
reading them on the event loop would stall every other client, and the default thread pool
(40 threads) would cap concurrent streams. One daemon thread per open stream costs little.

Lifetime: the thread puts every item (or the exception that ended the iterator) on an asyncio
queue through loop.call_soon_threadsafe, then a sentinel. `close()` (from the event loop, e.g.
when the client disconnects) sets a stop flag and calls `abort` (RequestHandle.abort frees the
engine sequence at once); the thread then leaves the iterator and calls its close(), so a
Session.stream generator runs its own cleanup on the thread that ran it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

_END = object()


class ThreadPump:
    def __init__(self, iterator: Iterator[Any], abort: Callable[[], None] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._iterator = iterator
        self._abort = abort
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paste-http-pump", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._iterator:
                if self._stopped.is_set():
                    break
                self._put(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(exc)
        finally:
            close = getattr(self._iterator, "close", None)
            if close is not None:
                close()
            self._put(_END)

    def _put(self, item: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: nobody will read
            self._stopped.set()

    def __aiter__(self) -> ThreadPump:
        return self

    async def __anext__(self) -> Any:
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop reading (idempotent); aborts the source if an abort was given."""
        if not self._stopped.is_set():
            self._stopped.set()
            if self._abort is not None:
                self._abort()
