"""Reading a request's JSON body with a size limit and OpenAI-style errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from paste.server.errors import BadRequestError, PayloadTooLargeError


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; 413 past max_bytes (counted while streaming), 400 if it is
    not valid UTF-8 JSON or not an object."""
    return parse_json_object(await read_body(request, max_bytes))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body's bytes; 413 past max_bytes (counted while streaming)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(
                f"request body exceeds the limit of {max_bytes} bytes", code="request_too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(data: bytes) -> dict[str, Any]:
    """`data` as a JSON object; 400 if it is not valid UTF-8 JSON or not an object."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequestError(
            f"the request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(value, dict):
        raise BadRequestError("the request body must be a JSON object", code="invalid_json")
    return value
