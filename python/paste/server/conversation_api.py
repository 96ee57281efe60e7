"""The Conversations API (OpenAI's /v1/conversations): conversations that a Responses request
continues by naming one as `conversation` (conversation_store.py, responses_request.py).

    POST   /v1/conversations                        {items?, metadata?}: the new conversation
    GET    /v1/conversations/{id}                   the conversation
    POST   /v1/conversations/{id}                   {metadata}: the conversation, updated
    DELETE /v1/conversations/{id}                   {id, object: "conversation.deleted",
                                                    deleted: true}
    POST   /v1/conversations/{id}/items             {items}: the list of the items added
    GET    /v1/conversations/{id}/items             a page of its items (input_items.page:
                                                    limit, order, after, before, include)
    GET    /v1/conversations/{id}/items/{item_id}   one item
    DELETE /v1/conversations/{id}/items/{item_id}   the conversation, without the item

Items are Responses input items (message, function_call, function_call_output, reasoning),
validated as POST /v1/responses validates `input`, at most MAX_ITEMS per request, each given
an id unless it has one (input_items.py). Metadata: at most 16 pairs of strings, keys up to
64 characters, values up to 512. An unknown conversation is a 404 (code
conversation_not_found), an unknown item too (code item_not_found); bad input is a 400
naming the field.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from paste.server.body import read_json_object
from paste.server.conversation_store import ConversationStore
from paste.server.errors import BadRequestError, NotFoundError
from paste.server.fields import metadata_field
from paste.server.input_items import page
from paste.server.responses_request import INCLUDABLE, checked_items, conversation_not_found
from paste.server.state import server_state

MAX_ITEMS = 20


def _items(body: dict[str, Any], required: bool) -> list[dict[str, Any]]:
    value = body.get("items")
    if value is None and not required:
        return []
    if not isinstance(value, list) or not value or len(value) > MAX_ITEMS:
        raise BadRequestError(f"'items' must be an array of 1 to {MAX_ITEMS} items",
                              param="items", code="invalid_value")  # fmt: skip
    return checked_items(value, "items")


def _store(request: Request) -> tuple[ConversationStore, str]:
    return server_state(request).conversation_store, request.path_params["conversation_id"]


def _known(value: Any, conversation_id: str) -> Any:
    """`value`, or the conversation's 404 when it is None (the store did not know the id)."""
    if value is None:
        raise conversation_not_found(conversation_id, "conversation_id")
    return value


def _item_not_found(item_id: str) -> NotFoundError:
    return NotFoundError(f"no item {item_id!r} in this conversation", param="item_id",
                         code="item_not_found")  # fmt: skip


async def create_conversation(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    meta = metadata_field(body)
    return JSONResponse(state.conversation_store.create(_items(body, False), meta))


async def get_conversation(request: Request) -> Response:
    store, conversation_id = _store(request)
    return JSONResponse(_known(store.get(conversation_id), conversation_id))


async def update_conversation(request: Request) -> Response:
    store, conversation_id = _store(request)
    _known(store.get(conversation_id), conversation_id)
    body = await read_json_object(request, server_state(request).config.max_request_bytes)
    meta = metadata_field(body, required=True)
    return JSONResponse(_known(store.update(conversation_id, meta), conversation_id))


async def delete_conversation(request: Request) -> Response:
    store, conversation_id = _store(request)
    if not store.delete(conversation_id):
        raise conversation_not_found(conversation_id, "conversation_id")
    return JSONResponse({"id": conversation_id, "object": "conversation.deleted",
                         "deleted": True})  # fmt: skip


async def add_items(request: Request) -> Response:
    store, conversation_id = _store(request)
    _known(store.get(conversation_id), conversation_id)
    body = await read_json_object(request, server_state(request).config.max_request_bytes)
    added = _known(store.add_items(conversation_id, _items(body, True)), conversation_id)
    return JSONResponse({"object": "list", "data": added, "first_id": added[0]["id"],
                         "last_id": added[-1]["id"], "has_more": False})  # fmt: skip


async def list_items(request: Request) -> Response:
    store, conversation_id = _store(request)
    items = _known(store.items(conversation_id), conversation_id)
    return JSONResponse(page(items, request.query_params, INCLUDABLE))


def _item(items: list[dict[str, Any]], item_id: str) -> dict[str, Any]:
    for item in items:
        if item.get("id") == item_id:
            return item
    raise _item_not_found(item_id)


async def get_item(request: Request) -> Response:
    store, conversation_id = _store(request)
    items = _known(store.items(conversation_id), conversation_id)
    return JSONResponse(_item(items, request.path_params["item_id"]))


async def delete_item(request: Request) -> Response:
    store, conversation_id = _store(request)
    item_id = request.path_params["item_id"]
    found = _known(store.delete_item(conversation_id, item_id), conversation_id)
    if not found:
        raise _item_not_found(item_id)
    return JSONResponse(_known(store.get(conversation_id), conversation_id))
