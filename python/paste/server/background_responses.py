"""Background responses (OpenAI's `background: true` on POST /v1/responses): the request is
answered at once with the response object in status "queued", the turn runs on the server's
event loop, and the client polls GET /v1/responses/{id} until the status is final.

    queued -> completed | incomplete     the turn ended (saved as a synchronous one is)
           -> cancelled                  POST /v1/responses/{id}/cancel, or DELETE, while it
                                         ran: its engine request is aborted, its KV freed
           -> failed                     the turn raised; `error` holds {code, message}

Each state is saved in the ResponseStore under the response's id (with `"background": true`),
so GET sees it; only a completed or incomplete one has a conversation a later request may
chain on (previous_response_id of one still running or cancelled is a 400). Cancelling a
response that already ended returns it unchanged (cancelling is idempotent); cancelling one
that did not run in the background is a 400. When the server stops, the turns still running
are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from paste.server.response_store import ResponseStore, StoredResponse
from paste.server.streaming import error_payload


class BackgroundResponses:
    """The background turns of one server, by response id."""

    def __init__(self, store: ResponseStore) -> None:
        self._store = store
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, snapshot: dict[str, Any], messages: list[dict[str, Any]],
              parent: str | None, run: Callable[[], Any],
              events: AsyncIterator[Any]) -> dict[str, Any]:
        """Saves `snapshot` (the response before its turn) as queued and runs `run()`, the
        coroutine that consumes `events` and saves the final response; the queued object."""
        queued = dict(snapshot, status="queued", background=True)
        self._save(queued, messages, parent)
        response_id = queued["id"]

        async def turn() -> None:
            try:
                await run()
            except asyncio.CancelledError:
                self._save(dict(queued, status="cancelled"), messages, parent)
                raise
            except Exception as exc:  # noqa: BLE001 - reported in the stored response
                self._save(dict(queued, status="failed", error=error_payload(exc)["error"]),
                           messages, parent)
            finally:
                self._tasks.pop(response_id, None)
                await events.aclose()  # type: ignore[attr-defined]  # aborts the engine request

        self._tasks[response_id] = asyncio.create_task(turn())
        return queued

    async def cancel(self, response_id: str) -> bool:
        """Cancels the turn of `response_id` if it is still running (False otherwise) and
        waits until it has stopped and its cancelled state is saved."""
        task = self._tasks.get(response_id)
        if task is None:
            return False
        if not task.cancelling():  # a second cancel would interrupt the first one's cleanup
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return True

    async def shutdown(self) -> None:
        """Cancels every running turn (the server stops)."""
        for response_id in list(self._tasks):
            await self.cancel(response_id)

    def _save(self, response: dict[str, Any], messages: list[dict[str, Any]],
              parent: str | None) -> None:
        self._store.put(StoredResponse(response, messages, None), parent=parent)
