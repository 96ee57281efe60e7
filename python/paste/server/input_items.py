"""GET /v1/responses/{id}/input_items: the items a stored response's request gave as `input`,
each with an id, listed a page at a time as OpenAI lists them.

The items are those of that request's `input` only (not its instructions, nor the
conversation a previous_response_id brought along: each earlier response lists its own),
in the Responses item form, an id given to each that had none when the request came:

    a string input          {"id": "msg_..", "type": "message", "role": "user",
                             "content": [{"type": "input_text", "text"}], "status": "completed"}
    a message               its content a list of parts (a string becomes one input_text part,
                            output_text for the assistant's)
    function_call / function_call_output / reasoning    as given, with an id and a status

Query: `limit` (1 to 100, default 20), `order` ("desc", the default, or "asc"), `after` /
`before` (an item id of this response: the page starts after it, or ends before it, in that
order), `include` (the entries POST /v1/responses accepts; they add nothing to input items).
The answer is {"object": "list", "data", "first_id", "last_id", "has_more"}. A bad value, or
a cursor that names no item of the response, is a 400 naming the parameter.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from starlette.datastructures import QueryParams

from paste.server.errors import BadRequestError

_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco",
           "reasoning": "rs"}  # fmt: skip
MAX_LIMIT, DEFAULT_LIMIT = 100, 20


def input_items(value: Any) -> list[dict[str, Any]]:
    """A request's `input` (already validated: a string or a list of known items) as the
    items GET /v1/responses/{id}/input_items lists."""
    if isinstance(value, str):
        return [_message("user", value, None)]
    items = []
    for item in value:
        kind = item.get("type", "message")
        if kind == "message":
            items.append(_message(item.get("role"), item.get("content"), item.get("id")))
        else:
            items.append(dict(copy.deepcopy(item), id=item.get("id") or _new_id(kind),
                              status=item.get("status") or "completed"))  # fmt: skip
    return items


def _new_id(kind: str) -> str:
    return f"{_PREFIX[kind]}_{uuid.uuid4().hex}"


def _message(role: Any, content: Any, item_id: Any) -> dict[str, Any]:
    if isinstance(content, str):
        part = "output_text" if role == "assistant" else "input_text"
        content = [{"type": part, "text": content}]
    return {"id": item_id or _new_id("message"), "type": "message", "role": role,
            "content": copy.deepcopy(content), "status": "completed"}  # fmt: skip


def page(items: list[dict[str, Any]], query: QueryParams,
         includable: frozenset[str]) -> dict[str, Any]:
    """One page of `items` (in input order) as `query` asks (see the module docstring)."""
    limit = _limit(query.get("limit"))
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequestError(f"'order' must be 'asc' or 'desc', got {order!r}", param="order",
                              code="invalid_value")  # fmt: skip
    for entry in query.getlist("include") + query.getlist("include[]"):
        if entry not in includable:
            raise BadRequestError(f"'include' entry {entry!r} is not supported",
                                  param="include", code="unsupported_value")  # fmt: skip
    ordered = items if order == "asc" else items[::-1]
    ids = [item["id"] for item in ordered]
    start, stop = 0, len(ordered)
    if "after" in query:
        start = _position(ids, query["after"], "after") + 1
    if "before" in query:
        stop = _position(ids, query["before"], "before")
    chosen = ordered[start:stop]
    data = chosen[:limit] if "after" in query or "before" not in query else chosen[-limit:]
    more = len(chosen) > len(data)
    return {"object": "list", "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": more}  # fmt: skip


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequestError(f"'limit' must be an integer from 1 to {MAX_LIMIT}, got {raw!r}",
                              param="limit", code="invalid_value")  # fmt: skip
    return limit


def _position(ids: list[str], item_id: str, param: str) -> int:
    try:
        return ids.index(item_id)
    except ValueError:
        raise BadRequestError(f"'{param}' {item_id!r} is not an input item of this response",
                              param=param, code="invalid_value") from None  # fmt: skip
