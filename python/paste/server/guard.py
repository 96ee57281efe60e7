"""GuardMiddleware: the checks every request passes before a route sees it.

- API key: when the server has one, each request under /v1 (and /tokenize, /detokenize,
  /invocations) needs the header `Authorization: Bearer <key>` (compared in constant time);
  otherwise 401.
  /health, /ping and /metrics stay open so that probes and scrapers need no secret.
- Size: a request whose Content-Length exceeds max_request_bytes is refused with 413 before
  its body is read (bodies without a Content-Length are counted while read, see body.py).

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware) so that streaming responses and
client-disconnect notices pass through untouched.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from paste.server.errors import ApiError, AuthenticationError, PayloadTooLargeError

Scope = dict[str, Any]
_GUARDED_PATHS = ("/tokenize", "/detokenize", "/invocations", "/reset_prefix_cache")  # and /v1/*


class GuardMiddleware:
    def __init__(self, app: Any, api_key: str | None, max_request_bytes: int) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_request_bytes = max_request_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = self._check(scope)
        if error is not None:
            await _send_error(send, error)
            return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> ApiError | None:
        headers = dict(scope.get("headers") or [])
        path = scope.get("path", "")
        if self.api_key is not None and (path.startswith("/v1") or path in _GUARDED_PATHS):
            given = headers.get(b"authorization", b"")
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.api_key):
                return AuthenticationError(
                    "missing or incorrect API key: send 'Authorization: Bearer <key>'",
                    code="invalid_api_key",
                )
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_request_bytes:
            return PayloadTooLargeError(
                f"request body of {int(length)} bytes exceeds the limit of "
                f"{self.max_request_bytes} bytes",
                code="request_too_large",
            )
        return None


async def _send_error(send: Any, error: ApiError) -> None:
    payload = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    if isinstance(error, AuthenticationError):
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
