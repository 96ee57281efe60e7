"""Server-Sent Events and client-disconnect handling shared by the routes.

SSE framing: `data: <json>\\n\\n` per chunk (Chat Completions ends with `data: [DONE]`), or
`event: <type>\\ndata: <json>\\n\\n` for typed events (Responses, sessions).

Errors: `prime` pulls the first event of a stream before the HTTP response starts, so input
errors found by the engine (a prompt too long for the context) still become a 4xx with a JSON
body; an error after the response started is sent as a final error event.

Disconnects: a streaming response is cancelled by Starlette when the client goes away, which
closes the event generator and with it the engine request. A non-streaming request is not, so
`until_disconnect` races the work against the client's http.disconnect message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from paste.server.errors import ApiError, ClientDisconnectedError, error_body

T = TypeVar("T")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_data(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def sse_event(event: str, payload: Any) -> bytes:
    data = json.dumps(payload, ensure_ascii=False).encode()
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def error_payload(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return exc.body()
    return error_body(f"internal error: {exc}", "server_error")


async def prime(events: AsyncIterator[T]) -> tuple[T, AsyncIterator[T]]:
    """The first event and the rest; closes the generator if the first one raises."""
    try:
        first = await events.__anext__()
    except BaseException:
        await events.aclose()  # type: ignore[attr-defined]
        raise
    return first, events


def sse_response(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(chunks, media_type="text/event-stream", headers=SSE_HEADERS)


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`; if the client disconnects first, cancel it (its cleanup frees the engine
    sequence) and raise ClientDisconnectedError."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise ClientDisconnectedError("the client disconnected before the answer was ready")
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class ChoiceAssembler(Protocol):
    """Builds an answer of several choices from (choice index, TurnEvent) pairs: Chat
    Completions (chat.py) and legacy completions (completions.py)."""

    @property
    def finished(self) -> bool: ...  # every choice has its TurnEnd

    def first_chunks(self) -> list[dict[str, Any]]: ...

    def add(self, index: int, event: Any) -> list[dict[str, Any]]: ...  # its stream chunks

    def completion(self) -> dict[str, Any]: ...  # the whole answer


async def answer_choices(request: Request, events: AsyncIterator[tuple[int, Any]],
                         assembler: ChoiceAssembler, stream: bool) -> Response:
    """The HTTP response of a many-choice answer: the whole completion (the work cancelled
    if the client leaves first), or an SSE stream whose first event was already pulled (so
    an error before it is still a 4xx)."""
    if not stream:
        await until_disconnect(request, collect_choices(events, assembler))
        return JSONResponse(assembler.completion())
    first, rest = await prime(events)
    return sse_response(stream_choices(first, rest, assembler))


async def collect_choices(events: AsyncIterator[tuple[int, Any]],
                          assembler: ChoiceAssembler) -> None:
    """Feed every event to `assembler` (a whole, non-streamed answer)."""
    async for index, event in events:
        assembler.add(index, event)
    if not assembler.finished:  # unreachable: every run_turn ends with a TurnEnd
        raise RuntimeError("a choice ended without a TurnEnd")


async def stream_choices(first: tuple[int, Any], rest: AsyncIterator[tuple[int, Any]],
                         assembler: ChoiceAssembler) -> AsyncIterator[bytes]:
    """The SSE `data:` lines of a streamed answer, ending with `data: [DONE]`; an error
    after the response started is sent in-stream (error_payload)."""
    try:
        head = assembler.add(*first)  # first: a choice's prompt token count is in the opening
        for chunk in assembler.first_chunks() + head:
            yield sse_data(chunk)
        async for index, event in rest:
            for chunk in assembler.add(index, event):
                yield sse_data(chunk)
    except Exception as exc:  # noqa: BLE001 - the status line is sent; report in-stream
        yield sse_data(error_payload(exc))
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
    yield b"data: [DONE]\n\n"
