"""POST /v1/responses: a Responses API answer, whole or streamed as typed events.

ResponsesAssembler turns the TurnEvents of generation.py into output items and, for
streaming, into the event sequence OpenAI clients expect (each with a sequence_number):

    response.created, response.in_progress
    text:  response.output_item.added (message), response.content_part.added,
           response.output_text.delta*, response.output_text.done,
           response.content_part.done, response.output_item.done
    call:  response.output_item.added (function_call), response.function_call_arguments.delta*,
           response.function_call_arguments.done, response.output_item.done
    thinking (with a reasoning parser): response.output_item.added (reasoning),
           response.reasoning_text.delta*, response.reasoning_text.done,
           response.output_item.done; the item {"type": "reasoning", "summary": [],
           "content": [{"type": "reasoning_text", "text"}]} precedes the answer's items and
           is not part of the conversation a chained request sees
    response.completed (or response.incomplete when max_output_tokens cut the output)

Items appear in output order; the non-streamed response is the final snapshot of the same
assembler, so both forms carry identical items.

With `store` (the default) a completed or incomplete response is saved in the server's
ResponseStore (response_store.py) as that final snapshot, with its conversation: the turn's
messages (without the instructions) and the output as one assistant message. It is saved
before the client sees it end (before the last stream event), so a chained request sent the
moment it ends finds it; a failed or abandoned response is not saved. GET and DELETE
/v1/responses/{id} read and forget stored responses; GET /v1/responses/{id}/input_items
lists the items its request gave (input_items.py). A `background` response runs whatever
the client does and is saved in each of its states, `"background": true` in each
(server/background_responses.py): answered at once as queued, or, with stream, as a stream
of events that GET /v1/responses/{id}?stream=true&starting_after=N resumes after event N
(its first event, response.created, shows it queued); POST /v1/responses/{id}/cancel stops
one still running.

KV of a chain (the key responses_request derives when no request of the chain gave a
prompt_cache_key; a client's key is parked as the client asked): the engine
keeps the conversation parked only while it waits on the client's tool outputs. A response
that made function calls leaves it parked (pinned for the engine's pin time), so the chained
turn with the outputs prefills only them; one that ended without calls releases it at once
(its full blocks stay in the prefix cache), since a person's next message may be minutes
away and a pinned sequence holds memory that new requests cannot take before it expires.

Logprobs (`include: ["message.output_text.logprobs"]`): a token's entry goes to the message
text it wrote. A LogprobPiece's entries wait for the next TextPiece; its output_text.delta
carries them and the message's output_text part collects them (output_text.done and the
part carry the whole list, so the deltas' entries concatenate to it). Entries still waiting
when the turn ends (the end-of-turn token's) go to the open message in a last delta with
empty text, so a text-only turn has one entry per completion token and their texts join to
the text plus the end-of-turn token's, as in chat. From the turn's first tool call on, no
entry is kept: a call's tokens write no message, and the parser does not map text back to
tokens (one token can hold the end of the text and the start of the call markup), so text
after a call carries no logprobs; nor do forced call openings (prompt text, no tokens).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from paste.server.background_responses import EventLog
from paste.server.body import read_json_object
from paste.server.errors import BadRequestError, NotFoundError
from paste.server.generation import (
    CallPiece,
    LogprobPiece,
    PromptLogprobPiece,
    ReasoningPiece,
    TextPiece,
    TokenCountPiece,
    TokenIdsPiece,
    TurnEvent,
    logprob_entries,
    run_turn,
    token_text,
)
from paste.server.generation_defaults import params_defaults, with_defaults
from paste.server.input_items import page
from paste.server.request_log import follow, on_prompt, request_log
from paste.server.response_store import ResponseStore, StoredResponse
from paste.server.responses_request import (
    INCLUDABLE,
    ResponsesRequest,
    parse_responses_request,
)
from paste.server.state import server_state
from paste.server.streaming import error_payload, prime, sse_event, sse_response, until_disconnect
from paste.server.truncation import fit_to_context


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class ResponsesAssembler:
    def __init__(self, req: ResponsesRequest, token_text: Callable[[int], str] = str) -> None:
        """`token_text(id)`: a token's text, for logprobs."""
        self.req = req
        self.id = req.response_id
        self.created_at = int(time.time())
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the item still receiving pieces
        self.status = "queued" if req.background else "in_progress"
        self.usage: dict[str, Any] | None = None
        self.incomplete: dict[str, str] | None = None
        self._seq = 0
        self._token_text = token_text
        self._logprobs: list[dict[str, Any]] = []  # entries waiting for their text
        self._made_call = False  # from the first call on, logprobs are not kept
        self.background = req.background
        self.saved = False  # the ended response was saved (responses._save, once)

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def snapshot(self) -> dict[str, Any]:
        req = self.req
        params = req.turn.params
        out = {
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": self.status, "error": None, "incomplete_details": self.incomplete,
            "instructions": req.instructions, "max_output_tokens": req.max_output_tokens,
            "model": req.model, "output": [dict(item) for item in self.output],
            "parallel_tool_calls": req.turn.parallel_tool_calls,
            "previous_response_id": req.previous_response_id, "reasoning": None,
            "store": req.store,
            "temperature": params.temperature, "top_p": params.top_p,
            "top_logprobs": req.top_logprobs,
            "text": {"format": req.text_format}, "tool_choice": req.turn.tool_choice.echo(),
            "tools": [dict(t["function"], type="function",
                           strict=t["function"]["name"] in req.turn.strict_tools)
                      for t in req.turn.tools],
            "truncation": req.truncation, "usage": self.usage,
            "metadata": dict(req.metadata),
        }  # fmt: skip
        if req.conversation_id is not None:
            out["conversation"] = {"id": req.conversation_id}
        if self.background:
            out["background"] = True
        return out

    @property
    def made_calls(self) -> bool:
        """Whether the output has a function call (the client will answer it)."""
        return self._made_call

    @property
    def is_done(self) -> bool:
        """Whether the turn ended (completed or incomplete): the response is final."""
        return self.status in ("completed", "incomplete")

    def assistant_message(self) -> dict[str, Any]:
        """The output as one chat message in turn.py's normalised form (how a chained request
        sees it): the messages' text joined, the calls as tool_calls, the thinking as
        reasoning_content. A call whose arguments are not a JSON object (cut short by
        max_output_tokens) is left out: it cannot be rendered back, nor answered."""
        text = "".join(item["content"][0]["text"] for item in self.output
                       if item["type"] == "message")  # fmt: skip
        message: dict[str, Any] = {"role": "assistant", "content": text}
        thinking = "".join(item["content"][0]["text"] for item in self.output
                           if item["type"] == "reasoning")  # fmt: skip
        if thinking:
            message["reasoning_content"] = thinking
        calls = [{"id": item["call_id"], "type": "function",
                  "function": {"name": item["name"], "arguments": item["arguments"]}}
                 for item in self.output
                 if item["type"] == "function_call" and _is_object(item["arguments"])]  # fmt: skip
        if calls:
            message["tool_calls"] = calls
        return message

    def start(self) -> list[dict[str, Any]]:
        """response.created (queued, for a background response) and response.in_progress."""
        created = self._event("response.created", response=self.snapshot())
        self.status = "in_progress"
        return [created, self._event("response.in_progress", response=self.snapshot())]

    def add(self, event: TurnEvent) -> list[dict[str, Any]]:
        """Record `event`; return its stream events."""
        if isinstance(event, TextPiece):
            events = [] if self._is_open("message") else self._close() + self._open_message()
            return events + [self._text_delta(event.text)]
        if isinstance(event, CallPiece):
            self._made_call, self._logprobs = True, []
            events = []
            if event.name is not None:
                events = self._close() + self._open_call(event)
            item = self.open
            assert item is not None
            item["arguments"] += event.arguments
            if event.arguments:
                events.append(self._event("response.function_call_arguments.delta",
                              item_id=item["id"], output_index=len(self.output) - 1,
                              delta=event.arguments))  # fmt: skip
            return events
        if isinstance(event, LogprobPiece):
            if not self._made_call:
                self._logprobs.extend(logprob_entries(event, self._token_text))
            return []
        if isinstance(event, PromptLogprobPiece | TokenIdsPiece | TokenCountPiece):  # not asked
            return []
        if isinstance(event, ReasoningPiece):
            self._logprobs = []  # the thinking's tokens: no message text of theirs
            events = [] if self._is_open("reasoning") else self._close() + self._open_reasoning()
            item, index = self.open, len(self.output) - 1
            assert item is not None
            item["content"][0]["text"] += event.text
            return events + [self._event("response.reasoning_text.delta", item_id=item["id"],
                                         output_index=index, content_index=0,
                                         delta=event.text)]
        events = [self._text_delta("")] if self._logprobs and self._is_open("message") else []
        events += self._close()
        self.usage = {
            "input_tokens": event.num_prompt_tokens,
            "input_tokens_details": {"cached_tokens": event.num_cached_tokens},
            "output_tokens": event.num_completion_tokens,
            "output_tokens_details": {"reasoning_tokens": event.num_reasoning_tokens},
            "total_tokens": event.num_prompt_tokens + event.num_completion_tokens,
        }
        if event.finish_reason == "length":
            self.status, self.incomplete = "incomplete", {"reason": "max_output_tokens"}
            return events + [self._event("response.incomplete", response=self.snapshot())]
        self.status = "completed"
        return events + [self._event("response.completed", response=self.snapshot())]

    def _text_delta(self, text: str) -> dict[str, Any]:
        """Append `text` and the waiting logprobs to the open message; their delta event."""
        item, index = self.open, len(self.output) - 1
        assert item is not None
        logprobs, self._logprobs = self._logprobs, []
        part = item["content"][0]
        part["text"] += text
        part["logprobs"].extend(logprobs)
        return self._event("response.output_text.delta", item_id=item["id"],
                           output_index=index, content_index=0, delta=text,
                           logprobs=logprobs)  # fmt: skip

    def _is_open(self, kind: str) -> bool:
        return self.open is not None and self.open["type"] == kind

    def _open_message(self) -> list[dict[str, Any]]:
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        item = {"id": _id("msg"), "type": "message", "status": "in_progress",
                "role": "assistant", "content": [part]}  # fmt: skip
        self.open = item
        self.output.append(item)
        index = len(self.output) - 1
        return [self._event("response.output_item.added", output_index=index,
                            item=dict(item, content=[])),
                self._event("response.content_part.added", item_id=item["id"],
                            output_index=index, content_index=0,
                            part=dict(part, logprobs=[]))]  # fmt: skip

    def _open_reasoning(self) -> list[dict[str, Any]]:
        item = {"id": _id("rs"), "type": "reasoning", "status": "in_progress", "summary": [],
                "content": [{"type": "reasoning_text", "text": ""}]}  # fmt: skip
        self.open = item
        self.output.append(item)
        return [self._event("response.output_item.added", output_index=len(self.output) - 1,
                            item=dict(item, content=[]))]  # fmt: skip

    def _open_call(self, piece: CallPiece) -> list[dict[str, Any]]:
        item = {"id": _id("fc"), "type": "function_call", "status": "in_progress",
                "call_id": piece.call_id, "name": piece.name, "arguments": ""}  # fmt: skip
        self.open = item
        self.output.append(item)
        return [self._event("response.output_item.added", output_index=len(self.output) - 1,
                            item=dict(item))]  # fmt: skip

    def _close(self) -> list[dict[str, Any]]:
        item, self.open = self.open, None
        if item is None:
            return []
        index = self.output.index(item)
        item["status"] = "completed"
        events = []
        if item["type"] == "message":
            part = item["content"][0]
            events += [self._event("response.output_text.done", item_id=item["id"],
                                   output_index=index, content_index=0, text=part["text"],
                                   logprobs=part["logprobs"]),
                       self._event("response.content_part.done", item_id=item["id"],
                                   output_index=index, content_index=0, part=dict(part))]  # fmt: skip
        elif item["type"] == "reasoning":
            events.append(self._event("response.reasoning_text.done", item_id=item["id"],
                                      output_index=index, content_index=0,
                                      text=item["content"][0]["text"]))  # fmt: skip
        else:
            events.append(self._event("response.function_call_arguments.done",
                          item_id=item["id"], output_index=index,
                          arguments=item["arguments"]))  # fmt: skip
        return events + [self._event("response.output_item.done", output_index=index,
                                     item=dict(item))]  # fmt: skip


def _is_object(arguments: str) -> bool:
    try:
        return isinstance(json.loads(arguments), dict)
    except json.JSONDecodeError:
        return False


def _save(state: Any, assembler: ResponsesAssembler) -> None:
    """Once the response ended (and only once): appends its input and output items to its
    `conversation`, stores it if its request asked (`store`), and releases its parked KV
    unless it is waiting on tool calls or the chain's key is the client's prompt_cache_key
    (see the module docstring)."""
    req = assembler.req
    if not assembler.is_done or assembler.saved:
        return
    assembler.saved = True
    if req.conversation_id is not None:  # the conversation goes on with this exchange
        state.conversation_store.add_items(
            req.conversation_id, req.input_items + [dict(item) for item in assembler.output])
    if req.store:
        messages = req.conversation + [assembler.assistant_message()]
        state.responses.put(StoredResponse(assembler.snapshot(), messages, req.turn.cache_key,
                                           req.auto_key, req.input_items),
                            parent=req.previous_response_id)
    if req.turn.cache_key and req.auto_key and not assembler.made_calls:
        state.engine.end_session(req.turn.cache_key)


async def create_response(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    defaults = state.config.generation_defaults
    req = parse_responses_request(with_defaults(body, defaults, "responses"),
                                  state.config.default_max_tokens, state.responses,
                                  state.max_logprobs, state.conversation_store)
    req.turn.params = params_defaults(req.turn.params, defaults)
    state.select_model(req.model, [req.turn])
    if req.truncation == "auto":
        fit_to_context(state.engine, req.turn, state.parser_format)
    state.prioritize(req.turn)
    log = request_log(state, req.response_id)
    events = follow(log, run_turn(state.engine, req.turn, state.parser_format,
                                  state.on_turn_end(req.turn.cache_key), "text.format",
                                  reasoning=state.config.reasoning, on_prompt=on_prompt(log)))
    assembler = ResponsesAssembler(req, token_text(state.engine))
    if req.background:
        return _background(state, req, events, assembler)
    if not req.stream:
        await until_disconnect(request, _collect(events, assembler))
        _save(state, assembler)
        return JSONResponse(assembler.snapshot())
    first, rest = await prime(events)
    return sse_response(_stream(first, rest, assembler, state))


def _background(state: Any, req: ResponsesRequest, events: AsyncIterator[TurnEvent],
                assembler: ResponsesAssembler) -> Response:
    """Starts a background turn (background_responses.py): the queued response, or the
    stream of its event log."""
    log = EventLog() if req.stream else None

    async def run() -> None:
        created, in_progress = assembler.start()
        if log is not None:
            log.extend([created])
        started = False
        async for event in events:
            out = assembler.add(event)
            if not started:
                started = True
                state.background.progress(in_progress["response"])
                out.insert(0, in_progress)
            _save(state, assembler)  # before the last event: its reader may chain at once
            if log is not None:
                log.extend(out)

    queued = state.background.start(assembler.snapshot(), req.conversation,
                                    req.previous_response_id, req.input_items, run, events, log)
    if log is None:
        return JSONResponse(queued)
    return sse_response(_follow(log, -1))


async def _follow(log: EventLog, after: int) -> AsyncIterator[bytes]:
    async for event in log.follow(after):
        yield sse_event(event["type"], event)


def _stored(request: Request) -> tuple[ResponseStore, str]:
    return server_state(request).responses, request.path_params["response_id"]


def _not_found(response_id: str) -> NotFoundError:
    return NotFoundError(f"no stored response {response_id!r}", param="response_id",
                         code="response_not_found")  # fmt: skip


async def get_response(request: Request) -> Response:
    """GET /v1/responses/{id}: the stored response object, as it was returned (its current
    state, for a background one); with `stream=true`, the events of a streamed background
    response after `starting_after` (a sequence number; all of them without it), then
    those to come until it ends."""
    store, response_id = _stored(request)
    response = store.response(response_id)
    if response is None:
        raise _not_found(response_id)
    query = request.query_params
    if not _query_bool(query.get("stream"), "stream"):
        return JSONResponse(response)
    after = _starting_after(query.get("starting_after"))
    log = server_state(request).background.log(response_id)
    if log is None:
        raise BadRequestError(
            f"response {response_id!r} has no stream to resume: only a response created with "
            "background and stream can be streamed again, and the server keeps the events of "
            "the most recently ended ones; GET it without stream", param="stream")
    return sse_response(_follow(log, after))


def _query_bool(raw: str | None, param: str) -> bool:
    if raw is None or raw.lower() in ("false", "0"):
        return False
    if raw.lower() in ("true", "1"):
        return True
    raise BadRequestError(f"'{param}' must be true or false, got {raw!r}", param=param,
                          code="invalid_value")  # fmt: skip


def _starting_after(raw: str | None) -> int:
    if raw is None:
        return -1
    if not raw.isdigit():
        raise BadRequestError(f"'starting_after' must be a sequence number (an integer >= 0), "
                              f"got {raw!r}", param="starting_after", code="invalid_value")
    return int(raw)


async def list_input_items(request: Request) -> Response:
    """GET /v1/responses/{id}/input_items: a page of the items its request gave as input
    (input_items.py)."""
    store, response_id = _stored(request)
    items = store.input_items(response_id)
    if items is None:
        raise _not_found(response_id)
    return JSONResponse(page(items, request.query_params, INCLUDABLE))


async def delete_response(request: Request) -> Response:
    """DELETE /v1/responses/{id}: forgets that one response (not the rest of its chain); a
    background one still running is cancelled first."""
    store, response_id = _stored(request)
    await server_state(request).background.forget(response_id)
    if not store.delete(response_id):
        raise _not_found(response_id)
    return JSONResponse({"id": response_id, "object": "response.deleted", "deleted": True})


async def cancel_response(request: Request) -> Response:
    """POST /v1/responses/{id}/cancel: a background response still running is cancelled (its
    engine request aborted); one that ended is returned as it is; 400 for a response that
    did not run in the background."""
    store, response_id = _stored(request)
    response = store.response(response_id)
    if response is None:
        raise _not_found(response_id)
    if not response.get("background"):
        raise BadRequestError(
            f"response {response_id!r} did not run in the background: only a background "
            "response can be cancelled", param="response_id")
    if await server_state(request).background.cancel(response_id):
        response = store.response(response_id) or dict(response, status="cancelled")
    return JSONResponse(response)


async def _collect(events: AsyncIterator[TurnEvent], assembler: ResponsesAssembler) -> None:
    async for event in events:
        assembler.add(event)


async def _stream(
    first: TurnEvent,
    rest: AsyncIterator[TurnEvent],
    assembler: ResponsesAssembler,
    state: Any,
) -> AsyncIterator[bytes]:
    try:
        events = assembler.start() + assembler.add(first)
        _save(state, assembler)  # (a turn whose first event is its end)
        for event in events:
            yield sse_event(event["type"], event)
        async for turn_event in rest:
            events = assembler.add(turn_event)
            _save(state, assembler)  # before the last event: its reader may chain at once
            for event in events:
                yield sse_event(event["type"], event)
    except Exception as exc:  # noqa: BLE001 - the status line is sent; report in-stream
        payload = error_payload(exc)["error"]
        yield sse_event("error", {"type": "error", "sequence_number": assembler._seq, **payload})
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
