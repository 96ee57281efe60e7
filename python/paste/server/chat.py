"""POST /v1/chat/completions: a chat completion, whole or streamed as chunks.

ChatAssembler turns the TurnEvents of generation.py into both forms, so a streamed answer's
deltas reassemble to the non-streamed message: text pieces -> `content`, call pieces ->
`tool_calls` (a call's first chunk carries index, id, type and name with empty arguments; the
next chunks carry argument fragments), TurnEnd -> finish_reason and usage, LogprobPieces (when
the request asked) -> `logprobs.content` (a streamed chunk of its own per engine output).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from paste.server.body import read_json_object
from paste.server.chat_request import ChatRequest, parse_chat_request
from paste.server.generation import (
    CallPiece,
    LogprobPiece,
    TextPiece,
    TurnEnd,
    TurnEvent,
    logprob_entries,
    run_turn,
    token_text,
)
from paste.server.state import server_state
from paste.server.streaming import (
    error_payload,
    prime,
    sse_data,
    sse_response,
    until_disconnect,
)


def usage(end: TurnEnd) -> dict[str, Any]:
    return {
        "prompt_tokens": end.num_prompt_tokens,
        "completion_tokens": end.num_completion_tokens,
        "total_tokens": end.num_prompt_tokens + end.num_completion_tokens,
        "prompt_tokens_details": {"cached_tokens": end.num_cached_tokens},
    }


class ChatAssembler:
    def __init__(self, model: str, include_usage: bool,
                 token_text: Callable[[int], str] = str) -> None:
        """`token_text(id)`: a token's text, for logprobs."""
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self.text: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.logprobs: list[dict[str, Any]] | None = None  # set once a LogprobPiece came
        self._token_text = token_text

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        chunk = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish_reason}],
        }  # fmt: skip
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def first_chunk(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""})

    def add(self, event: TurnEvent) -> list[dict[str, Any]]:
        """Record `event`; return its stream chunks."""
        if isinstance(event, LogprobPiece):
            content = logprob_entries(event, self._token_text)
            if self.logprobs is None:
                self.logprobs = []
            self.logprobs.extend(content)
            chunk = self._chunk({})
            chunk["choices"][0]["logprobs"] = {"content": content, "refusal": None}
            return [chunk]
        if isinstance(event, TextPiece):
            self.text.append(event.text)
            return [self._chunk({"content": event.text})]
        if isinstance(event, CallPiece):
            chunks = []
            if event.name is not None:
                self.calls.append({"id": event.call_id, "type": "function",
                                   "function": {"name": event.name, "arguments": ""}})  # fmt: skip
                header = {"index": event.index, "id": event.call_id, "type": "function",
                          "function": {"name": event.name, "arguments": ""}}  # fmt: skip
                chunks.append(self._chunk({"tool_calls": [header]}))
            if event.arguments:
                self.calls[event.index]["function"]["arguments"] += event.arguments
                fragment = {"index": event.index, "function": {"arguments": event.arguments}}
                chunks.append(self._chunk({"tool_calls": [fragment]}))
            return chunks
        chunks = [self._chunk({}, event.finish_reason)]
        if self.include_usage:
            chunks.append(dict(self._chunk({}), choices=[], usage=usage(event)))
        return chunks

    def completion(self, end: TurnEnd) -> dict[str, Any]:
        text = "".join(self.text)
        content = (text or None) if self.calls else text
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if self.calls:
            message["tool_calls"] = self.calls
        return {
            "id": self.id, "object": "chat.completion", "created": self.created,
            "model": self.model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": message,
                         "logprobs": None if self.logprobs is None else {
                             "content": self.logprobs, "refusal": None},
                         "finish_reason": end.finish_reason}],
            "usage": usage(end),
        }  # fmt: skip


async def create_chat_completion(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    chat: ChatRequest = parse_chat_request(body, state.config.default_max_tokens)
    state.check_model(chat.model)
    events = run_turn(state.engine, chat.turn, state.parser_format, state.metrics.observe_turn)
    assembler = ChatAssembler(chat.model, chat.include_usage, token_text(state.engine))
    if not chat.stream:
        end = await until_disconnect(request, _collect(events, assembler))
        return JSONResponse(assembler.completion(end))
    first, rest = await prime(events)
    return sse_response(_stream(first, rest, assembler))


async def _collect(events: AsyncIterator[TurnEvent], assembler: ChatAssembler) -> TurnEnd:
    async for event in events:
        assembler.add(event)
        if isinstance(event, TurnEnd):
            return event
    raise RuntimeError("the turn ended without a TurnEnd")  # unreachable: run_turn ends with one


async def _stream(
    first: TurnEvent, rest: AsyncIterator[TurnEvent], assembler: ChatAssembler
) -> AsyncIterator[bytes]:
    try:
        yield sse_data(assembler.first_chunk())
        for chunk in assembler.add(first):
            yield sse_data(chunk)
        async for event in rest:
            for chunk in assembler.add(event):
                yield sse_data(chunk)
    except Exception as exc:  # noqa: BLE001 - the status line is sent; report in-stream
        yield sse_data(error_payload(exc))
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
    yield b"data: [DONE]\n\n"
