"""POST /v1/completions: a legacy text completion, whole or streamed as chunks.

Every (prompt, j < n) pair is a choice, index prompt * n + j, run by generation.run_turn on
the raw prompt (no chat template, no tool parsing) and merged as in Chat Completions
(choices.py). CompletionAssembler turns the events into OpenAI's `text_completion` objects:
text pieces -> `text` (after the prompt's text when `echo`), LogprobPieces -> `logprobs`
{tokens, token_logprobs, top_logprobs (the `logprobs` most likely tokens, text -> logprob),
text_offset (each token's offset in the choice's text)}, TurnEnd -> finish_reason. A
PromptLogprobPiece (scoring: completions_request.py) -> the prompt's tokens first in
`logprobs` with `echo` (the first token's logprob and alternatives null; offsets count the
token texts from 0), and `prompt_logprobs` (vLLM's form) when that field was given; with
`max_tokens: 0` the decoded token is dropped. A token's alternatives hold the token itself
too (OpenAI: up to logprobs + 1 entries). TokenIdsPiece (vLLM's `return_token_ids`) ->
each choice's `prompt_token_ids` and `token_ids`, streamed in chunks of their own. Streamed,
each chunk carries one choice's new text (or its logprobs, in a chunk with empty text), then
`data: [DONE]`. Usage counts each prompt once and every choice's completion tokens.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from paste.engine.request import TokenLogprob
from paste.server.body import read_json_object
from paste.server.choices import choice_stream, choice_turns, merge_choices
from paste.server.completions_request import CompletionRequest, parse_completion_request
from paste.server.errors import BadRequestError
from paste.server.generation import (
    LogprobPiece,
    PromptLogprobPiece,
    TextPiece,
    TokenCountPiece,
    TokenIdsPiece,
    TurnEnd,
    TurnEvent,
    context_limit,
    prompt_logprob_entries,
    token_text,
    truncated,
)
from paste.server.generation_defaults import with_defaults
from paste.server.request_log import follow, on_prompt, request_log
from paste.server.running_usage import count, running_usage
from paste.server.state import server_state
from paste.server.streaming import answer_choices


@dataclass
class _Choice:
    text: str = ""
    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float | None] = field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = field(default_factory=list)
    text_offset: list[int] = field(default_factory=list)
    prompt_logprobs: list[dict[str, Any] | None] | None = None  # vLLM's form
    prompt_token_ids: list[int] | None = None  # with return_token_ids
    token_ids: list[int] = field(default_factory=list)
    end: TurnEnd | None = None
    counts: tuple[int, int] | None = None  # (prompt, output) tokens so far (continuous usage)


class CompletionAssembler:
    def __init__(self, model: str, req: CompletionRequest, prompt_texts: list[str],
                 token_text: Callable[[int], str] = str,
                 prompt_lengths: list[int] | None = None) -> None:
        """`prompt_texts[p]`: prompt p's text (echoed when asked); `prompt_lengths[p]`: its
        tokens as the engine gets them, the opening counts of its choices (continuous
        usage: so an echo chunk carries them)."""
        self.id = f"cmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.req = req
        self.logprobs = req.turns[0].params.logprobs is not None
        self.choices = [_Choice() for _ in range(len(req.turns) * req.n)]
        if req.echo:
            for i, choice in enumerate(self.choices):
                choice.text = prompt_texts[i // req.n]
        if req.continuous_usage and prompt_lengths is not None:
            for i, choice in enumerate(self.choices):
                choice.counts = (prompt_lengths[i // req.n], 0)
        self._echoed = [c.text for c in self.choices]  # the prompt text each choice echoes
        self._token_text = token_text
        self._offset = [0] * len(self.choices)  # text length of each choice's logged tokens

    @property
    def finished(self) -> bool:
        return all(c.end is not None for c in self.choices)

    def _chunk(self, index: int, text: str, logprobs: dict[str, Any] | None = None,
               finish_reason: str | None = None) -> dict[str, Any]:
        chunk = {"id": self.id, "object": "text_completion", "created": self.created,
                 "model": self.model, "system_fingerprint": None,
                 "choices": [{"index": index, "text": text, "logprobs": logprobs,
                              "finish_reason": finish_reason}]}  # fmt: skip
        if self.req.include_usage:
            chunk["usage"] = running_usage(self.choices[index].counts, self.req.continuous_usage)
        return chunk

    def first_chunks(self) -> list[dict[str, Any]]:
        """The echoed prompts (nothing without `echo`)."""
        if not self.req.echo:
            return []
        return [self._chunk(i, text) for i, text in enumerate(self._echoed)]

    def _logged(self, index: int,
                tokens: list[tuple[int, TokenLogprob | None]]) -> dict[str, list[Any]]:
        """Appends (token id, its TokenLogprob or None) to choice `index`'s `logprobs`;
        returns what was added."""
        new: dict[str, list[Any]] = {"tokens": [], "token_logprobs": [], "top_logprobs": [],
                                     "text_offset": []}
        for token_id, entry in tokens:
            text = self._token_text(token_id)
            new["tokens"].append(text)
            top: dict[str, float] | None = None
            if entry is not None:
                top = {}
                for t, v in entry.top:  # most likely first: two tokens of one text keep the max
                    top.setdefault(self._token_text(t), v)
                top.setdefault(text, entry.logprob)
            new["token_logprobs"].append(None if entry is None else entry.logprob)
            new["top_logprobs"].append(top)
            new["text_offset"].append(self._offset[index])
            self._offset[index] += len(text)
        choice = self.choices[index]
        choice.tokens += new["tokens"]
        choice.token_logprobs += new["token_logprobs"]
        choice.top_logprobs += new["top_logprobs"]
        choice.text_offset += new["text_offset"]
        return new

    def add(self, index: int, event: TurnEvent) -> list[dict[str, Any]]:
        """Record choice `index`'s `event`; return its stream chunks."""
        choice = self.choices[index]
        if isinstance(event, TokenCountPiece):
            if self.req.echo_only:  # the one decoded token is not the answer's
                event = TokenCountPiece(event.num_prompt_tokens, 0)
            n = self.req.n  # the choices of one prompt
            count(self.choices[index // n * n:(index // n + 1) * n], choice, event)
            return []
        if isinstance(event, TokenIdsPiece):
            if event.prompt:
                choice.prompt_token_ids = list(event.token_ids)
                chunk = self._chunk(index, "")
                chunk["choices"][0]["prompt_token_ids"] = choice.prompt_token_ids
                return [chunk]
            if self.req.echo_only:
                return []
            choice.token_ids += event.token_ids
            chunk = self._chunk(index, "")
            chunk["choices"][0]["token_ids"] = list(event.token_ids)
            return [chunk]
        if isinstance(event, PromptLogprobPiece):
            if self.req.prompt_logprobs:
                choice.prompt_logprobs = prompt_logprob_entries(event, self._token_text)
            if not (self.req.echo and self.logprobs):
                return []
            pairs = list(zip(event.token_ids, event.entries, strict=True))
            return [self._chunk(index, "", self._logged(index, pairs))]
        if self.req.echo_only and isinstance(event, (LogprobPiece, TextPiece)):
            return []  # max_tokens 0: the one decoded token is not the answer's
        if isinstance(event, LogprobPiece):
            pairs = [(e.token_id, e) for e in event.entries]
            return [self._chunk(index, "", self._logged(index, pairs))]
        if isinstance(event, TextPiece):
            choice.text += event.text
            return [self._chunk(index, event.text)]
        if not isinstance(event, TurnEnd):  # no tool parsing: no CallPieces
            return []
        if self.req.echo_only:
            event = replace(event, finish_reason="length", num_completion_tokens=0)
        choice.end = event
        choice.counts = (event.num_prompt_tokens, event.num_completion_tokens)
        chunks = [self._chunk(index, "", None, event.finish_reason)]
        chunks[0]["choices"][0]["stop_reason"] = event.stop_reason
        if self.req.include_usage and self.finished:
            chunks.append(dict(self._chunk(index, ""), choices=[], usage=self.usage()))
        return chunks

    def usage(self) -> dict[str, Any]:
        n = self.req.n
        ends = [c.end for c in self.choices]
        prompt = sum(e.num_prompt_tokens for e in ends[::n] if e is not None)
        completion = sum(e.num_completion_tokens for e in ends if e is not None)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}

    def completion(self) -> dict[str, Any]:
        choices: list[dict[str, Any]] = [{
            "index": i, "text": c.text,
            "logprobs": {"tokens": c.tokens, "token_logprobs": c.token_logprobs,
                         "top_logprobs": c.top_logprobs, "text_offset": c.text_offset}
            if self.logprobs else None,
            "finish_reason": c.end.finish_reason if c.end is not None else None,
            "stop_reason": c.end.stop_reason if c.end is not None else None,
        } for i, c in enumerate(self.choices)]  # fmt: skip
        for choice, c in zip(choices, self.choices, strict=True):
            if self.req.prompt_logprobs:
                choice["prompt_logprobs"] = c.prompt_logprobs
            if self.req.turns[0].return_token_ids:
                choice["prompt_token_ids"] = c.prompt_token_ids
                choice["token_ids"] = c.token_ids
        return {"id": self.id, "object": "text_completion", "created": self.created,
                "model": self.model, "system_fingerprint": None, "choices": choices,
                "usage": self.usage()}  # fmt: skip


def _encoder(engine: Any) -> Callable[[str], list[int]]:
    """A prompt text's token ids with the model's own special tokens (e.g. a BOS)."""
    tokenizer = engine.tokenizer
    return lambda text: list(tokenizer.encode(text, add_special_tokens=True))


def _check_prompt_ids(req: CompletionRequest, vocab: int) -> None:
    """400 for a prompt sent as token ids the model does not have (before they are decoded
    for echo and the answer)."""
    for turn in req.turns:
        bad = next((t for t in turn.prompt_ids or () if not 0 <= t < vocab), None)
        if bad is not None:
            raise BadRequestError(
                f"'prompt' token id {bad} is outside the vocabulary [0, {vocab})",
                param="prompt")


async def create_completion(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    body = with_defaults(body, state.config.generation_defaults, "completions")
    req = parse_completion_request(body, _encoder(state.engine), state.max_logprobs)
    state.select_model(req.model, req.turns)
    info = getattr(state.engine, "info", None)  # a simulated engine (bench) has none
    if info is not None:
        _check_prompt_ids(req, info.vocab_size)
    for turn in req.turns:  # a raw prompt starts a new conversation: only the KV band applies
        state.prioritize(turn)
    texts = [text if text is not None else state.engine.tokenizer.decode(
        turn.prompt_ids or [], skip_special_tokens=False)
        for text, turn in zip(req.prompt_texts, req.turns, strict=True)]
    limit = context_limit(state.engine)
    lengths = [len(truncated(list(t.prompt_ids or ()), t.truncate_prompt_tokens, limit))
               for t in req.turns]
    assembler = CompletionAssembler(req.model, req, texts, token_text(state.engine), lengths)
    log = request_log(state, assembler.id, len(req.turns), req.n)
    events = merge_choices([[choice_stream(state, t, on_prompt(log, p))
                             for t in choice_turns(turn, req.n)]
                            for p, turn in enumerate(req.turns)])
    return await answer_choices(request, follow(log, events), assembler, req.stream)
