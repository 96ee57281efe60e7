"""POST /v1/responses: the request body, validated into a TurnRequest.

`input` is a string (one user message) or a list of items, turned into chat messages:
    {"role", "content"} / {"type": "message", ...}   a message; content a string or text parts
    {"type": "function_call", "call_id", "name", "arguments"}   joins the assistant message
                                                     before it (or starts one) as a tool call
    {"type": "function_call_output", "call_id", "output"}       a tool message
    {"type": "reasoning", "content": [{"type": "reasoning_text", "text"}], "summary": [..]}
                                                     the thinking (its content's text, else its
                                                     summary's) of the assistant message that
                                                     follows (`reasoning_content`, turn.py);
                                                     dropped if none follows
`instructions` becomes the first system message. Tools use the flat function form.

State (server/response_store.py): `store` (default true) keeps the response for GET and for
chaining; `previous_response_id` names a stored response whose conversation (its input and
its output, but not its instructions: each request gives its own) comes before this
`input`, so an input of only function_call_output items answers the previous response's
calls. An unknown (never stored, deleted, evicted) id is a 404. The engine conversation key
(TurnRequest.cache_key) is the request's `prompt_cache_key`, else the previous response's
key, else, for a stored response, its own id: a chain's KV stays parked in the engine and
each turn prefills only its new tokens.
`text.format` json_object / json_schema constrain the output (engine/grammar.py).
`include` lists extra output to return: "message.output_text.logprobs" asks the engine for
logprobs, with `top_logprobs` (0 to --max-logprobs, default 0) alternatives per token; the
other entries OpenAI defines name output this server never produces (reasoning, built-in
tools, input images), so they add nothing; any other entry is a 400. `top_logprobs` without the logprobs
entry is validated and echoed but asks for nothing (as in OpenAI's API: `include` decides).
`background: true` (with store) runs the turn whatever the client does: answered at once with
the queued response, or, with stream, by a stream of its events that the client may leave and
resume (server/background_responses.py); a previous_response_id must name a completed or
incomplete response (not one still running, cancelled or failed: 400). The request's `input`
items, each with an id, are kept for GET /v1/responses/{id}/input_items (input_items.py).
`conversation` (an id or {"id"}; not with previous_response_id) names a conversation of the
Conversations API (conversation_api.py): the input follows its items, the engine conversation
key is its id (unless a prompt_cache_key is given), and once the response ended its input
and output items are appended to it (responses.py).
`truncation`: "disabled" (the default: a conversation longer than the context is a 400) or
"auto" (its oldest messages are dropped until it fits, truncation.py). `metadata` (at most 16
string pairs) is echoed on the response.
Unsupported: non-function tools.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from paste.engine.request import MAX_LOGPROBS
from paste.server.chat_request import response_grammar, sampling_params
from paste.server.conversation_store import ConversationStore
from paste.server.errors import BadRequestError, NotFoundError
from paste.server.fields import (
    INT32_MAX,
    metadata_field,
    opt_bool,
    opt_int,
    opt_list,
    opt_str,
    req_str,
    request_priority,
)
from paste.server.input_items import input_items
from paste.server.response_store import ResponseStore
from paste.server.tools_schema import parse_tool_choice, parse_tools, strict_tool_names
from paste.server.truncation import TRUNCATION_MODES
from paste.server.turn import TurnRequest, content_text, normalize_messages


@dataclass
class ResponsesRequest:
    model: str
    turn: TurnRequest
    stream: bool
    instructions: str | None
    max_output_tokens: int | None
    body: dict[str, Any]
    text_format: dict[str, Any]  # `text.format` as the response echoes it ({"type": "text"})
    top_logprobs: int | None  # as the request gave it (the response echoes it)
    response_id: str  # the id its response gets ("resp_<hex>")
    store: bool
    previous_response_id: str | None
    # turn.messages without the instructions' system message: what a stored response keeps
    conversation: list[dict[str, Any]]
    # turn.cache_key was derived (no prompt_cache_key in the chain): the server releases it
    auto_key: bool = False
    background: bool = False  # run whatever the client does (server/background_responses.py)
    input_items: list[dict[str, Any]] = field(default_factory=list)  # `input`, with ids
    conversation_id: str | None = None  # `conversation`: its items come first, then it grows
    truncation: str = "disabled"  # "auto": the oldest messages dropped to fit (truncation.py)
    metadata: dict[str, str] = field(default_factory=dict)  # echoed on the response


INCLUDE_LOGPROBS = "message.output_text.logprobs"
# include entries OpenAI defines for output this server never produces: nothing to add
_INCLUDE_NOTHING = frozenset({
    "reasoning.encrypted_content", "file_search_call.results", "web_search_call.results",
    "web_search_call.action.sources", "message.input_image.image_url",
    "computer_call_output.output.image_url", "code_interpreter_call.outputs",
})  # fmt: skip
INCLUDABLE = _INCLUDE_NOTHING | {INCLUDE_LOGPROBS}  # every include entry accepted


def _wants_logprobs(body: dict[str, Any]) -> bool:
    """Whether `include` (null or an array of known strings) asks for logprobs."""
    include = opt_list(body, "include") or []
    for entry in include:
        if not isinstance(entry, str):
            raise BadRequestError("'include' must be an array of strings", param="include",
                                  code="invalid_value")  # fmt: skip
        if entry not in INCLUDABLE:
            raise BadRequestError(f"'include' entry {entry!r} is not supported",
                                  param="include", code="unsupported_value")  # fmt: skip
    return INCLUDE_LOGPROBS in include


def _input_messages(value: Any, param: str = "input") -> list[dict[str, Any]]:
    """`input` (a string or items; `param` names it in errors) as chat messages, not yet
    normalised."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise BadRequestError(f"'{param}' must be a string or a non-empty array", param=param)
    messages: list[dict[str, Any]] = []
    thinking: list[str] = []  # reasoning items waiting for their assistant message
    for i, item in enumerate(value):
        at = f"{param}[{i}]"
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message":
            messages.append({"role": item.get("role"), "content": item.get("content")})
            if thinking and messages[-1]["role"] == "assistant":
                messages[-1]["reasoning_content"] = "".join(thinking)
            thinking = []
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments")}}  # fmt: skip
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant" or thinking:
                last = {"role": "assistant", "content": ""}
                messages.append(last)
            if thinking:
                last["reasoning_content"] = "".join(thinking)
                thinking = []
            last.setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else content_text(output, f"{at}.output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
        elif kind == "reasoning":
            thinking.append(_reasoning_text(item, at))
        else:
            raise BadRequestError(f"'{at}.type' {kind!r} is not supported", param=f"{at}.type")
    return messages


def checked_items(value: list[Any], param: str) -> list[dict[str, Any]]:
    """Responses items (a conversation's, conversation_api.py) validated as `input` is (a
    400 naming `param`), with ids (input_items.py)."""
    messages = _input_messages(value, param)
    if messages:  # reasoning items alone make no message
        normalize_messages(messages, param)
    return input_items(value)


def _item_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A conversation's items (already checked) as normalised chat messages."""
    messages = _input_messages(items, "conversation") if items else []
    return normalize_messages(messages, "conversation") if messages else []


def conversation_not_found(conversation_id: str, param: str) -> NotFoundError:
    return NotFoundError(
        f"no conversation {conversation_id!r}: it was never created, or was deleted or "
        "evicted (this server keeps the most recently used ones in memory)", param=param,
        code="conversation_not_found")  # fmt: skip


def _conversation(body: dict[str, Any],
                  conversations: ConversationStore | None) -> tuple[str | None, list[Any]]:
    """(`conversation`'s id, its items) or (None, []); 400 for a malformed value or one
    with previous_response_id, 404 for an unknown conversation."""
    value = body.get("conversation")
    if value is None:
        return None, []
    cid = value.get("id") if isinstance(value, dict) else value
    if not isinstance(cid, str) or not cid:
        raise BadRequestError("'conversation' must be a conversation id or {\"id\": id}",
                              param="conversation", code="invalid_value")  # fmt: skip
    if body.get("previous_response_id") is not None:
        raise BadRequestError("'conversation' and 'previous_response_id' cannot both be given: "
                              "each names the history the input follows",
                              param="conversation")  # fmt: skip
    items = conversations.items(cid) if conversations is not None else None
    if items is None:
        raise conversation_not_found(cid, "conversation")
    return cid, items


def _truncation(body: dict[str, Any]) -> str:
    mode = opt_str(body, "truncation") or "disabled"
    if mode not in TRUNCATION_MODES:
        raise BadRequestError(f"'truncation' must be one of {', '.join(TRUNCATION_MODES)}, got "
                              f"{mode!r}", param="truncation", code="invalid_value")  # fmt: skip
    return mode


def _reasoning_text(item: dict[str, Any], at: str) -> str:
    """The text of a reasoning item: its content's texts, else its summary's."""
    for key in ("content", "summary"):
        parts = item.get(key)
        if parts is None:
            continue
        if not isinstance(parts, list) or not all(
                isinstance(p, dict) and isinstance(p.get("text"), str) for p in parts):
            raise BadRequestError(f"'{at}.{key}' must be an array of parts with a text",
                                  param=f"{at}.{key}")
        if parts:
            return "".join(p["text"] for p in parts)
    return ""


def _messages(
    value: Any, instructions: str | None, history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The turn's messages: the instructions' system message, then `history` (a stored
    conversation, already normalised), then `input`'s messages normalised. Tool outputs
    answering calls of `history` get the name of their function, as normalize_messages gives
    those answering calls of `input`."""
    head = [{"role": "system", "content": instructions}] if instructions else []
    new = normalize_messages(head + _input_messages(value), "input")
    names = {call["id"]: call["function"]["name"]
             for message in history for call in message.get("tool_calls", ())}  # fmt: skip
    for message in new:
        if message["role"] == "tool" and "name" not in message and message["tool_call_id"] in names:
            message["name"] = names[message["tool_call_id"]]
    return new[: len(head)] + history + new[len(head) :]


def _history(body: dict[str, Any], store: ResponseStore) -> tuple[str | None, Any]:
    """(previous_response_id, its StoredResponse or None); 404 for an id not stored."""
    previous_id = opt_str(body, "previous_response_id")
    if previous_id is None:
        return None, None
    previous = store.get(previous_id)
    if previous is None:
        raise NotFoundError(
            f"previous response {previous_id!r} not found: it, or an earlier response of its "
            "chain, was never stored, deleted or evicted (this server keeps the most recent "
            "ones in memory)",
            param="previous_response_id", code="previous_response_not_found",
        )  # fmt: skip
    status = previous.response.get("status")
    if status not in ("completed", "incomplete"):  # a background one still running or ended
        raise BadRequestError(
            f"previous response {previous_id!r} is {status}: only a completed or incomplete "
            "response can be continued", param="previous_response_id")
    return previous_id, previous


def parse_responses_request(
    body: dict[str, Any], default_max_tokens: int, store: ResponseStore,
    max_logprobs: int = MAX_LOGPROBS, conversations: ConversationStore | None = None,
) -> ResponsesRequest:
    """The request of `body`; a previous_response_id is looked up in `store`, a
    conversation in `conversations`; `top_logprobs` is at most `max_logprobs` (the
    engine's)."""
    model = req_str(body, "model")
    stored = opt_bool(body, "store", True)
    stream = opt_bool(body, "stream", False)
    background = opt_bool(body, "background", False)
    if background and not stored:
        raise BadRequestError(
            "'background' needs 'store': true (its response is read back with "
            "GET /v1/responses/{id})", param="background")
    conversation_id, items = _conversation(body, conversations)
    previous_id, previous = _history(body, store)
    response_id = f"resp_{uuid.uuid4().hex}"
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    grammar = response_grammar(fmt, "text.format", flat=True)
    instructions = opt_str(body, "instructions")
    max_output_tokens = opt_int(body, "max_output_tokens", minimum=1, maximum=INT32_MAX)
    top_logprobs = opt_int(body, "top_logprobs", minimum=0, maximum=max_logprobs)
    logprobs = (top_logprobs or 0) if _wants_logprobs(body) else None
    tools = parse_tools(body.get("tools"), flat=True)
    history = previous.messages if previous else _item_messages(items)
    messages = _messages(body.get("input"), instructions, history)
    cache_key, auto_key = opt_str(body, "prompt_cache_key"), False
    if cache_key is None and conversation_id is not None:  # its KV stays parked between turns
        cache_key, auto_key = conversation_id, True
    elif cache_key is None:  # the chain's key: its KV stays parked in the engine between turns
        cache_key, auto_key = ((previous.cache_key, previous.auto_key) if previous
                               else (response_id if stored else None, stored))
    turn = TurnRequest(
        messages=messages,
        tools=tools,
        tool_choice=parse_tool_choice(body.get("tool_choice"), tools, flat=True),
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls", True),
        params=replace(sampling_params(body, max_output_tokens, default_max_tokens, ()),
                       grammar=grammar, logprobs=logprobs),
        cache_key=cache_key,
        strict_tools=strict_tool_names(body.get("tools"), flat=True),
        request_priority=request_priority(body),
    )
    echoed = dict(fmt) if isinstance(fmt, dict) and fmt.get("type") else {"type": "text"}
    conversation = messages[1:] if instructions else messages
    return ResponsesRequest(model, turn, stream, instructions,
                            max_output_tokens, body, echoed, top_logprobs, response_id,
                            stored, previous_id, conversation, auto_key=auto_key,
                            background=background, input_items=input_items(body["input"]),
                            conversation_id=conversation_id, truncation=_truncation(body),
                            metadata=metadata_field(body))  # fmt: skip
