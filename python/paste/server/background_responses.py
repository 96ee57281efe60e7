"""Background responses (OpenAI's `background: true` on POST /v1/responses): the turn runs on
the server's event loop whatever the client does, and the client follows it by polling
GET /v1/responses/{id} or, if it was created with `stream: true` too, by reading its events,
from the start or from any point, while it runs and after it ended.

    queued -> in_progress                the turn's first engine event
           -> completed | incomplete     the turn ended (saved as a synchronous one is)
           -> cancelled                  POST /v1/responses/{id}/cancel, or DELETE, while it
                                         ran: its engine request is aborted, its KV freed
           -> failed                     the turn raised; `error` holds {code, message}

Each state is saved in the ResponseStore under the response's id (with `"background": true`),
so GET sees it; only a completed or incomplete one has a conversation a later request may
chain on (previous_response_id of one still running or cancelled is a 400). Cancelling a
response that already ended returns it unchanged (cancelling is idempotent); cancelling one
that did not run in the background is a 400. When the server stops, the turns still running
are cancelled.

Resumable streams: a streamed background response writes its events (each with its
sequence_number, 0, 1, 2, ...) to an EventLog instead of to the connection that created it.
That connection, and any later GET /v1/responses/{id}?stream=true&starting_after=N, read the
log after event N and follow it until the turn ends; a reader that goes away stops reading,
and the turn goes on. A turn that fails ends its log with a `response.failed` event (the
response as saved, with its error); a cancelled one's log just ends (GET tells cancelled).
The logs of the KEEP_ENDED_LOGS most recently ended streams are kept, fewer if together they
hold more than MAX_ENDED_EVENTS events (a long answer streams a delta per engine output),
and dropped when their response is deleted; an older one can no longer be resumed (GET it
without stream). A running turn's log is never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from paste.server.response_store import ResponseStore, StoredResponse
from paste.server.streaming import error_payload

KEEP_ENDED_LOGS = 64
MAX_ENDED_EVENTS = 200_000  # about 60 MB of events kept for resuming, in ended logs


class EventLog:
    """The stream events of one background response, in sequence order, and the readers'
    wake-up (every method runs on the event loop)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.closed = False
        self._changed = asyncio.Event()

    def extend(self, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)
        self._wake()

    def add(self, kind: str, **fields: Any) -> None:
        """Appends an event of `kind` numbered after the last one."""
        self.extend([{"type": kind, "sequence_number": len(self.events), **fields}])

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self, after: int) -> AsyncIterator[dict[str, Any]]:
        """The events numbered above `after`, those written later as they come, until the
        log is closed."""
        i = max(after + 1, 0)
        while True:
            while i < len(self.events):
                yield self.events[i]
                i += 1
            if self.closed:
                return
            await self._changed.wait()


@dataclass
class _Turn:
    task: asyncio.Task[None] | None
    latest: dict[str, Any]  # the response as last saved
    messages: list[dict[str, Any]]
    parent: str | None
    input_items: list[dict[str, Any]]


class BackgroundResponses:
    """The background turns of one server, by response id, and their event logs."""

    def __init__(self, store: ResponseStore) -> None:
        self._store = store
        self._turns: dict[str, _Turn] = {}
        self._logs: OrderedDict[str, EventLog] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._turns)

    def start(self, snapshot: dict[str, Any], messages: list[dict[str, Any]],
              parent: str | None, input_items: list[dict[str, Any]],
              run: Callable[[], Awaitable[None]], events: AsyncIterator[Any],
              log: EventLog | None = None) -> dict[str, Any]:
        """Saves `snapshot` (the response before its turn) as queued and runs `run()`, the
        coroutine that consumes `events`, writes their stream events to `log` (a streamed
        response) and saves the final response; the queued object."""
        queued = dict(snapshot, status="queued", background=True)
        response_id = queued["id"]
        turn = _Turn(None, queued, messages, parent, input_items)
        self._turns[response_id] = turn
        self._save(turn, queued)
        if log is not None:
            self._logs[response_id] = log

        async def body() -> None:
            try:
                await run()
            except asyncio.CancelledError:
                self._save(turn, dict(turn.latest, status="cancelled"))
                raise
            except Exception as exc:  # noqa: BLE001 - reported in the stored response
                failed = dict(turn.latest, status="failed", error=error_payload(exc)["error"])
                self._save(turn, failed)
                if log is not None:
                    log.add("response.failed", response=failed)
            finally:
                self._turns.pop(response_id, None)
                if log is not None:
                    log.close()
                    self._trim_logs()
                await events.aclose()  # type: ignore[attr-defined]  # aborts the engine request

        turn.task = asyncio.create_task(body())
        return queued

    def progress(self, snapshot: dict[str, Any]) -> None:
        """Saves `snapshot` (status in_progress) as the running response's state."""
        turn = self._turns.get(snapshot["id"])
        if turn is not None:
            self._save(turn, dict(snapshot, background=True))

    def log(self, response_id: str) -> EventLog | None:
        """The event log of a streamed background response (None: not streamed, or no longer
        kept)."""
        return self._logs.get(response_id)

    async def cancel(self, response_id: str) -> bool:
        """Cancels the turn of `response_id` if it is still running (False otherwise) and
        waits until it has stopped and its cancelled state is saved."""
        turn = self._turns.get(response_id)
        if turn is None or turn.task is None:
            return False
        if not turn.task.cancelling():  # a second cancel would interrupt the first's cleanup
            turn.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await turn.task
        return True

    async def forget(self, response_id: str) -> None:
        """Cancels the turn of `response_id` if it is running and drops its event log (the
        response is deleted)."""
        await self.cancel(response_id)
        self._logs.pop(response_id, None)

    async def shutdown(self) -> None:
        """Cancels every running turn (the server stops)."""
        for response_id in list(self._turns):
            await self.cancel(response_id)

    def _save(self, turn: _Turn, response: dict[str, Any]) -> None:
        turn.latest = response
        self._store.put(StoredResponse(response, turn.messages, None,
                                       input_items=turn.input_items), parent=turn.parent)

    def _trim_logs(self) -> None:
        """Drops the oldest ended logs while more than KEEP_ENDED_LOGS are kept or they hold
        more than MAX_ENDED_EVENTS events."""
        ended = [rid for rid, log in self._logs.items() if log.closed]
        events = sum(len(self._logs[rid].events) for rid in ended)
        for i, rid in enumerate(ended):
            if len(ended) - i <= KEEP_ENDED_LOGS and events <= MAX_ENDED_EVENTS:
                break
            events -= len(self._logs.pop(rid).events)
