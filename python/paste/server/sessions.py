"""Native agent sessions over HTTP: the agent loop runs in the server, next to the engine.

    POST   /v1/sessions                 {"tools": [names]?, "tenant"?, "system"?, "max_turns"?,
                                         "max_tokens"?, "environment"?, "model"?}
                                        -> the session object
    POST   /v1/sessions/{id}/messages   {"content": str, "stream": true?} -> SSE events
             event: token        {"type": "token", "text"}
             event: reasoning    {"type": "reasoning", "text"}  (--reasoning-parser)
             event: tool_call    {"type": "tool_call", "call_id", "name", "arguments"}
             event: tool_result  {"type": "tool_result", "call_id", "ok", "content", "error_kind"}
             event: final        {"type": "final", "text", "status", "metrics"}
           with "stream": false  -> {"session_id", "status", "text", "messages", "metrics"}
    GET    /v1/sessions/{id}            transcript + metrics (with "speculation", the session's
                                        speculation counts, when it speculates)
    DELETE /v1/sessions/{id}            ends it (frees its parked KV)

"tools" omitted means every tool of the server; [] means none. "environment" (a JSON object)
is the state the session's tools act on when the client knows it (a file tree, an account):
the model never sees it; speculation indexes its values for argument prediction. A client
that disconnects mid-stream stops the run after the current event (the model turn is
aborted, running tool calls are cancelled and answered in the transcript, see
paste.session).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from paste.server.body import read_json_object
from paste.server.errors import BadRequestError, ConflictError, NotFoundError
from paste.server.fields import (
    INT32_MAX,
    opt_bool,
    opt_int,
    opt_list,
    opt_object,
    opt_str,
    req_str,
    request_priority,
)
from paste.server.pump import ThreadPump
from paste.server.state import ServerState, server_state
from paste.server.streaming import error_payload, prime, sse_event, sse_response, until_disconnect
from paste.session import (
    Final,
    ReasoningDelta,
    SessionBusyError,
    SessionClosedError,
    TokenDelta,
    ToolCallEvent,
    TurnRestarted,
)


def _session_object(session: Any, state: ServerState) -> dict[str, Any]:
    model = state.sessions.lora(session.session_id) or state.config.model_id
    return {"id": session.session_id, "object": "session", "model": model,
            "tenant": session.tenant, "tools": state.sessions.tool_names(session.session_id),
            "status": session.status}  # fmt: skip


def _event_payload(event: Any) -> dict[str, Any]:
    if isinstance(event, TokenDelta):
        return {"type": "token", "text": event.text}
    if isinstance(event, ReasoningDelta):  # --reasoning-parser: the model's thinking
        return {"type": "reasoning", "text": event.text}
    if isinstance(event, ToolCallEvent):
        return {"type": "tool_call", "call_id": event.call_id, "name": event.name,
                "arguments": event.arguments}  # fmt: skip
    if isinstance(event, Final):
        return {"type": "final", "text": event.text, "status": event.status}
    if isinstance(event, TurnRestarted):  # the turn's "token" events so far are void
        return {"type": "turn_restarted", "reason": event.reason}
    return {"type": "tool_result", "call_id": event.call_id, "ok": event.ok,
            "content": event.content, "error_kind": event.error_kind}  # fmt: skip


async def create_session(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    names = opt_list(body, "tools")
    if names is not None and any(not isinstance(n, str) for n in names):
        raise BadRequestError("'tools' must be an array of tool names", param="tools")
    model = opt_str(body, "model")
    session = state.sessions.create(
        names, opt_str(body, "tenant") or "default", opt_str(body, "system"),
        opt_int(body, "max_turns", minimum=1, maximum=INT32_MAX) or 32,
        opt_int(body, "max_tokens", minimum=1, maximum=INT32_MAX) or state.config.session_max_tokens,
        opt_object(body, "environment"), request_priority(body),
        lora=None if model is None else state.check_model(model),
    )  # fmt: skip
    state.metrics.sessions_open.set(len(state.sessions))
    return JSONResponse(dict(_session_object(session, state), created_at=int(time.time())))


async def get_session(request: Request) -> Response:
    state = server_state(request)
    session = state.sessions.get(request.path_params["session_id"])
    return JSONResponse(dict(_session_object(session, state), messages=session.messages,
                             metrics=session.metrics()))  # fmt: skip


async def delete_session(request: Request) -> Response:
    state = server_state(request)
    session_id = request.path_params["session_id"]
    state.sessions.delete(session_id)
    state.metrics.sessions_open.set(len(state.sessions))
    return JSONResponse({"id": session_id, "object": "session.deleted", "deleted": True})


async def post_message(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    content = req_str(body, "content")
    stream = opt_bool(body, "stream", True)
    session = state.sessions.begin_run(request.path_params["session_id"])
    handed_off = False  # the streaming response ends the run when it finishes
    try:
        start = len(session.messages)
        pump = ThreadPump(session.stream(content))
        events = _run(state, session, pump, start)
        if not stream:
            last = await until_disconnect(request, _last(events))
            return JSONResponse({"session_id": session.session_id, "status": last["status"],
                                 "text": last["text"], "messages": session.messages[start:],
                                 "metrics": session.metrics()})  # fmt: skip
        first, rest = await prime(events)
        handed_off = True
        return sse_response(_stream(state, session.session_id, first, rest))
    finally:
        if not handed_off:
            state.sessions.end_run(session.session_id)


async def _run(state: ServerState, session: Any, pump: ThreadPump,
               start: int) -> AsyncIterator[dict]:  # fmt: skip
    """Event payloads of one run (its user message is session.messages[start]); tool metrics
    recorded as results arrive; at the end the server's speculation learns the run."""
    results: list[Any] = []
    try:
        async for event in pump:
            payload = _event_payload(event)
            if payload["type"] == "tool_result":
                results.append(event)
            if payload["type"] == "final":
                timings = session.trace()["timings"]
                for result in results:
                    state.metrics.observe_tool_call(result.ok, timings.get(result.call_id))
                if state.speculation is not None:
                    state.speculation.after_run(session, start)
                payload["metrics"] = session.metrics()
            yield payload
    except SessionBusyError as exc:
        raise ConflictError(str(exc), code="session_busy") from None
    except SessionClosedError as exc:
        raise NotFoundError(str(exc), code="session_not_found") from None
    finally:
        pump.close()


async def _last(events: AsyncIterator[dict]) -> dict:
    last: dict = {}
    async for payload in events:
        last = payload
    return last


async def _stream(
    state: ServerState, session_id: str, first: dict, rest: AsyncIterator[dict]
) -> AsyncIterator[bytes]:
    try:
        yield sse_event(first["type"], first)
        async for payload in rest:
            yield sse_event(payload["type"], payload)
    except Exception as exc:  # noqa: BLE001 - the status line is sent; report in-stream
        yield sse_event("error", error_payload(exc))
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
        state.sessions.end_run(session_id)
