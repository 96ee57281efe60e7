"""POST /invocations: vLLM's SageMaker route, answered by the generating API its body is for.

A body with "messages" is a chat completion (chat.py), with "prompt" a legacy completion
(completions.py), with "input" a Responses answer (responses.py), checked in that order; any
other JSON object is a 400 naming the three. The chosen route reads the same body and answers
exactly as on its own path (streamed or not). Behind the API key like /v1 (guard.py).
SageMaker's health check, GET and POST /ping, is /health (app.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

from paste.server import chat, completions, responses
from paste.server.body import parse_json_object, read_body
from paste.server.errors import BadRequestError
from paste.server.state import server_state

_ROUTES: tuple[tuple[str, Any], ...] = (
    ("messages", chat.create_chat_completion),
    ("prompt", completions.create_completion),
    ("input", responses.create_response),
)


async def invocations(request: Request) -> Response:
    raw = await read_body(request, server_state(request).config.max_request_bytes)
    body = parse_json_object(raw)
    for name, route in _ROUTES:
        if name in body:
            answer: Response = await route(Request(request.scope, _replay(raw, request.receive)))
            return answer
    raise BadRequestError(
        "an /invocations body must have 'messages' (a chat completion), 'prompt' (a "
        "completion) or 'input' (a response)", code="missing_required_parameter")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` first, then the connection's own messages (the
    http.disconnect the routes watch for)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
