"""RequestIdMiddleware: an X-Request-Id header on every answer (vLLM's request id headers).

With ServerConfig.request_id_headers (vLLM's --enable-request-id-headers), the middleware is
installed by create_app.

The value is the request's own X-Request-Id when it sent a non-empty one (the first, byte for
byte), else a fresh uuid4 hex (32 characters), so a client or a proxy can match its logs with
the server's. Answers made by the routes, by the error handlers and by GuardMiddleware (401,
413) all carry it; a CORS preflight, answered by the outer CORS middleware, does not.

A plain ASGI middleware (as guard.py) so that streaming responses pass through untouched: only
the http.response.start message is rewritten.
"""

from __future__ import annotations

import uuid
from typing import Any

HEADER = b"x-request-id"


class RequestIdMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope.get("headers") or [] if name == HEADER), b"")
        request_id = given or uuid.uuid4().hex.encode()

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers") or []
                           if name.lower() != HEADER]
                message = dict(message, headers=[*headers, (HEADER, request_id)])
            await send(message)

        await self.app(scope, receive, send_with_id)
