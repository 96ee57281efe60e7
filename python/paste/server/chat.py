"""POST /v1/chat/completions: a chat completion, whole or streamed as chunks.

ChatAssembler turns the TurnEvents of generation.py into both forms, so a streamed answer's
deltas reassemble to the non-streamed message: text pieces -> `content`, call pieces ->
`tool_calls` (a call's first chunk carries index, id, type and name with empty arguments; the
next chunks carry argument fragments), TurnEnd -> finish_reason and usage, LogprobPieces (when
the request asked) -> `logprobs.content` (a streamed chunk of its own per engine output).
With n > 1 (choices.py) each choice is assembled on its own under its index; streamed chunks
of the choices interleave as they are decoded, and usage counts the prompt once and every
choice's completion tokens (the usage chunk follows the last choice's finish).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from paste.server.body import read_json_object
from paste.server.chat_request import ChatRequest, parse_chat_request
from paste.server.choices import choice_stream, choice_turns, merge_choices
from paste.server.generation import (
    CallPiece,
    LogprobPiece,
    PromptLogprobPiece,
    ReasoningPiece,
    TextPiece,
    TokenCountPiece,
    TokenIdsPiece,
    TurnEnd,
    TurnEvent,
    logprob_entries,
    prompt_logprob_entries,
    token_text,
)
from paste.server.generation_defaults import with_defaults
from paste.server.request_log import follow, on_prompt, request_log
from paste.server.running_usage import count, running_usage
from paste.server.state import server_state
from paste.server.streaming import answer_choices


@dataclass
class _Choice:
    """One choice's answer so far."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)  # the thinking (a reasoning parser)
    calls: list[dict[str, Any]] = field(default_factory=list)
    logprobs: list[dict[str, Any]] | None = None  # set once a LogprobPiece came
    token_ids: list[int] = field(default_factory=list)  # with return_token_ids
    end: TurnEnd | None = None
    counts: tuple[int, int] | None = None  # (prompt, output) tokens so far (continuous usage)


class ChatAssembler:
    def __init__(self, model: str, include_usage: bool, n: int = 1,
                 token_text: Callable[[int], str] = str, prompt_logprobs: bool = False,
                 return_token_ids: bool = False, include_reasoning: bool = True,
                 continuous_usage: bool = False) -> None:
        """`n` choices; `token_text(id)`: a token's text, for logprobs; `prompt_logprobs`:
        the answer carries vLLM's `prompt_logprobs` (choice 0's prompt; every choice has the
        same); `return_token_ids`: vLLM's `prompt_token_ids` (top level; streamed in one
        chunk) and each choice's `token_ids` (streamed as they come, in chunks of their
        own); `include_reasoning` false (vLLM's field): the thinking a reasoning parser
        split off is left out (no `reasoning_content`, whole or streamed);
        `continuous_usage` (vLLM's continuous_usage_stats, with include_usage): every chunk
        of a choice carries its usage so far (its prompt, its output tokens), from the
        TokenCountPieces of its turn."""
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self._continuous = include_usage and continuous_usage
        self.choices = [_Choice() for _ in range(n)]
        self._token_text = token_text
        self._prompt_logprobs = prompt_logprobs
        self.prompt_logprobs: list[dict[str, Any] | None] | None = None
        self._return_token_ids = return_token_ids
        self._include_reasoning = include_reasoning
        self.prompt_token_ids: list[int] | None = None

    def _chunk(self, index: int, delta: dict[str, Any],
               finish_reason: str | None = None) -> dict[str, Any]:
        chunk = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": None,
            "choices": [{"index": index, "delta": delta, "logprobs": None,
                         "finish_reason": finish_reason}],
        }  # fmt: skip
        if self.include_usage:
            chunk["usage"] = running_usage(self.choices[index].counts, self._continuous)
        return chunk

    def first_chunks(self) -> list[dict[str, Any]]:
        return [self._chunk(i, {"role": "assistant", "content": ""})
                for i in range(len(self.choices))]

    def add(self, index: int, event: TurnEvent) -> list[dict[str, Any]]:
        """Record choice `index`'s `event`; return its stream chunks."""
        choice = self.choices[index]
        if isinstance(event, TokenCountPiece):
            count(self.choices, choice, event)  # every choice has the same prompt
            return []
        if isinstance(event, TokenIdsPiece):
            chunk = self._chunk(index, {})
            if not event.prompt:
                choice.token_ids += event.token_ids
                chunk["choices"][0]["token_ids"] = list(event.token_ids)
                return [chunk]
            if index != 0:  # every choice has the same prompt: given once
                return []
            self.prompt_token_ids = list(event.token_ids)
            chunk["prompt_token_ids"] = self.prompt_token_ids
            return [chunk]
        if isinstance(event, PromptLogprobPiece):
            if index == 0 and self._prompt_logprobs:
                self.prompt_logprobs = prompt_logprob_entries(event, self._token_text)
            return []
        if isinstance(event, LogprobPiece):
            content = logprob_entries(event, self._token_text)
            if choice.logprobs is None:
                choice.logprobs = []
            choice.logprobs.extend(content)
            chunk = self._chunk(index, {})
            chunk["choices"][0]["logprobs"] = {"content": content, "refusal": None}
            return [chunk]
        if isinstance(event, TextPiece):
            choice.text.append(event.text)
            return [self._chunk(index, {"content": event.text})]
        if isinstance(event, ReasoningPiece):  # vLLM's field for it
            if not self._include_reasoning:
                return []
            choice.reasoning.append(event.text)
            return [self._chunk(index, {"reasoning_content": event.text})]
        if isinstance(event, CallPiece):
            chunks = []
            if event.name is not None:
                choice.calls.append({"id": event.call_id, "type": "function",
                                     "function": {"name": event.name, "arguments": ""}})  # fmt: skip
                header = {"index": event.index, "id": event.call_id, "type": "function",
                          "function": {"name": event.name, "arguments": ""}}  # fmt: skip
                chunks.append(self._chunk(index, {"tool_calls": [header]}))
            if event.arguments:
                choice.calls[event.index]["function"]["arguments"] += event.arguments
                fragment = {"index": event.index, "function": {"arguments": event.arguments}}
                chunks.append(self._chunk(index, {"tool_calls": [fragment]}))
            return chunks
        choice.end = event
        choice.counts = (event.num_prompt_tokens, event.num_completion_tokens)
        chunks = [self._chunk(index, {}, event.finish_reason)]
        chunks[0]["choices"][0]["stop_reason"] = event.stop_reason
        if self.include_usage and self.finished:
            chunks.append(dict(self._chunk(index, {}), choices=[], usage=self.usage()))
        return chunks

    @property
    def finished(self) -> bool:
        return all(c.end is not None for c in self.choices)

    def usage(self) -> dict[str, Any]:
        """The prompt counted once (choice 0's), the completion tokens of every choice."""
        ends = [c.end for c in self.choices if c.end is not None]
        prompt = ends[0].num_prompt_tokens if ends else 0
        completion = sum(e.num_completion_tokens for e in ends)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {
                "cached_tokens": self.choices[0].end.num_cached_tokens
                if self.choices[0].end is not None else 0},
        }
        predicted = [e.prediction_tokens for e in ends if e.prediction_tokens is not None]
        if predicted:  # OpenAI's Predicted Outputs counts, over every choice
            usage["completion_tokens_details"] = {
                "accepted_prediction_tokens": sum(a for a, _r in predicted),
                "rejected_prediction_tokens": sum(r for _a, r in predicted)}
        return usage

    def completion(self) -> dict[str, Any]:
        choices = []
        for i, c in enumerate(self.choices):
            text = "".join(c.text)
            content = (text or None) if c.calls else text
            message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
            if c.reasoning:
                message["reasoning_content"] = "".join(c.reasoning)
            if c.calls:
                message["tool_calls"] = c.calls
            choices.append({
                "index": i, "message": message,
                "logprobs": None if c.logprobs is None else {
                    "content": c.logprobs, "refusal": None},
                "finish_reason": c.end.finish_reason if c.end is not None else None,
                "stop_reason": c.end.stop_reason if c.end is not None else None,
            })  # fmt: skip
            if self._return_token_ids:
                choices[-1]["token_ids"] = c.token_ids
        answer = {
            "id": self.id, "object": "chat.completion", "created": self.created,
            "model": self.model, "system_fingerprint": None,
            "choices": choices, "usage": self.usage(),
        }  # fmt: skip
        if self._prompt_logprobs:
            answer["prompt_logprobs"] = self.prompt_logprobs
        if self._return_token_ids:
            answer["prompt_token_ids"] = self.prompt_token_ids
        return answer


async def create_chat_completion(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    body = with_defaults(body, state.config.generation_defaults, "chat")
    chat: ChatRequest = parse_chat_request(body, state.config.default_max_tokens,
                                                  state.max_logprobs)
    state.select_model(chat.model, [chat.turn])
    state.prioritize(chat.turn)
    tokenizer = getattr(state.engine, "tokenizer", None)  # a simulated engine (bench) has none
    if chat.turn.prediction is not None and tokenizer is not None:  # once for every choice
        predicted = tokenizer.encode(chat.turn.prediction, add_special_tokens=False)
        chat.turn.params = replace(chat.turn.params, prediction=tuple(predicted))
    assembler = ChatAssembler(chat.model, chat.include_usage, chat.n, token_text(state.engine),
                              chat.prompt_logprobs, chat.return_token_ids,
                              chat.include_reasoning, chat.continuous_usage)
    log = request_log(state, assembler.id, num_choices=chat.n)
    events = merge_choices([[choice_stream(state, turn, on_prompt(log))
                             for turn in choice_turns(chat.turn, chat.n)]])
    return await answer_choices(request, follow(log, events), assembler, chat.stream)
