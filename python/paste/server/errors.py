"""Typed errors of the HTTP server and their OpenAI-style JSON bodies.

Every error a client can cause is an `ApiError` carrying the HTTP status and the body fields
OpenAI clients read: {"error": {"message", "type", "param", "code"}}. Routes raise them; the
app's exception handlers (app.py) turn them, and anything unexpected, into JSON responses, so
a request can fail but the server never does.
"""

from __future__ import annotations

from typing import Any

from paste.errors import InvalidArgumentError, PasteError


class ApiError(PasteError):
    """An HTTP error answer: status, OpenAI error `type`, optional `param` and `code`."""

    status = 500
    type = "server_error"

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def headers(self) -> dict[str, str]:
        return {}


class BadRequestError(ApiError, InvalidArgumentError):
    """400: malformed JSON, a missing or invalid field, an unsupported option."""

    status = 400
    type = "invalid_request_error"


class AuthenticationError(ApiError):
    """401: the bearer API key is missing or wrong."""

    status = 401
    type = "authentication_error"


class NotFoundError(ApiError, InvalidArgumentError):
    """404: an unknown model, session or route."""

    status = 404
    type = "invalid_request_error"


class ConflictError(ApiError):
    """409: the resource is busy (a session already running a message)."""

    status = 409
    type = "invalid_request_error"


class PayloadTooLargeError(ApiError, InvalidArgumentError):
    """413: the request body is larger than the server's max_request_bytes."""

    status = 413
    type = "invalid_request_error"


class ClientDisconnectedError(ApiError):
    """The client closed the connection before the answer was ready (nobody reads the
    answer; 499 is the conventional status for the access log and metrics)."""

    status = 499
    type = "client_closed_request"


class ServiceUnavailableError(ApiError):
    """503: the engine cannot take the request (shut down, or restarting: then with a
    Retry-After header, which OpenAI clients honour when they retry)."""

    status = 503
    type = "server_error"

    def __init__(self, message: str, param: str | None = None, code: str | None = None,
                 retry_after_s: int | None = None) -> None:
        super().__init__(message, param, code)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}


def error_body(
    message: str, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The OpenAI error object."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
