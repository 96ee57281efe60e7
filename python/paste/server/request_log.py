"""The request log: a line when a generating request is received and one when it ends.

vLLM's --enable-log-requests and --max-log-len: with ServerConfig.log_requests, each
generating request logs one line at INFO on the logger "paste.requests" when its prompt is
rendered and one when it ends (the first is one line):

    Received request chatcmpl-<hex>: prompt: '<|im_start|>user\\nHi<|im_end|>\\n...',
        params: GenerationParams(max_tokens=16, temperature=0.7), prompt_token_ids: [1, ...]
    Finished request chatcmpl-<hex>: 12 prompt tokens, 5 output tokens, finish_reason stop
    Aborted request chatcmpl-<hex>

The id is the one the answer carries (chatcmpl-, cmpl-, resp_). A legacy completion of
several prompts logs each prompt as `<id>-<i>` (vLLM's form) and ends once, under `<id>`.
`prompt` is the repr of the rendered prompt's text (its token ids decoded with the special
tokens; None for an engine without a tokenizer), cut to max_log_len characters; the token
ids are cut to max_log_len ids (None: both whole). `params`: the GenerationParams fields
that differ from their defaults (an object-valued one, such as a grammar, by its type
name). The end line counts each prompt's tokens once and every choice's output tokens as
the engine reported them; finish_reason lists each choice's, comma-separated, in choice
order. "Aborted" when a request whose prompt was logged ends before every choice's
TurnEnd: the client disconnected, or an error. A request refused before (its body invalid,
its prompt not renderable) logs nothing.

When log_requests is off `request_log` returns None, the routes pass run_turn no hook and
their events go through unwrapped: nothing is logged, nothing computed. A native session's
model turns are logged the same way, each as `<session id>-turn<n>` (session_log.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import fields
from typing import Any, TypeVar

from paste.engine.request import GenerationParams
from paste.server.generation import TurnEnd

LOGGER_NAME = "paste.requests"
logger = logging.getLogger(LOGGER_NAME)

T = TypeVar("T")
# run_turn's on_prompt: the prompt token ids and parameters of a turn about to be submitted
PromptHook = Callable[[list[int], GenerationParams], None]
_PLAIN = (bool, int, float, str, tuple, type(None))


class RequestLog:
    """The log lines of one request of `num_prompts` prompts, `num_choices` choices each
    (choice index = prompt * num_choices + j, as choices.merge_choices numbers them)."""

    def __init__(self, request_id: str, decode: Callable[[list[int]], str] | None,
                 max_log_len: int | None, num_prompts: int = 1, num_choices: int = 1) -> None:
        self.request_id = request_id
        self._decode = decode
        self._max_log_len = max_log_len
        self._num_prompts = num_prompts
        self._num_choices = num_choices
        self._received: set[int] = set()
        self._ends: dict[int, TurnEnd] = {}
        self._ended = False  # the Finished or Aborted line was logged

    def on_prompt(self, prompt: int = 0) -> PromptHook:
        """run_turn's hook for the choices of prompt `prompt`: the first one logs it."""

        def received(prompt_ids: list[int], params: GenerationParams) -> None:
            if prompt in self._received or not logger.isEnabledFor(logging.INFO):
                return
            self._received.add(prompt)
            request_id = (self.request_id if self._num_prompts == 1
                          else f"{self.request_id}-{prompt}")
            text = None if self._decode is None else self._decode(prompt_ids)
            logger.info("Received request %s: prompt: %r, params: %s, prompt_token_ids: %s",
                        request_id, self._cut(text), compact_params(params),
                        self._cut(prompt_ids))

        return received

    def _cut(self, value: Any) -> Any:
        return value if value is None or self._max_log_len is None else value[:self._max_log_len]

    def observe(self, index: int, event: Any) -> None:
        """Choice `index`'s event; the Finished line once every choice has its TurnEnd."""
        if not isinstance(event, TurnEnd):
            return
        self._ends[index] = event
        if len(self._ends) < self._num_prompts * self._num_choices or self._ended:
            return
        ends = [self._ends[i] for i in sorted(self._ends)]
        self.finished(sum(e.num_prompt_tokens for e in ends[::self._num_choices]),
                      sum(e.num_completion_tokens for e in ends),
                      ",".join(e.finish_reason for e in ends))

    def finished(self, prompt_tokens: int, output_tokens: int, reasons: str) -> None:
        """The Finished line (once; `reasons`: each choice's finish reason, comma-separated)."""
        if self._ended:
            return
        self._ended = True
        logger.info("Finished request %s: %d prompt tokens, %d output tokens, finish_reason %s",
                    self.request_id, prompt_tokens, output_tokens, reasons)

    def abort(self) -> None:
        """The Aborted line, unless the request already finished or no prompt was logged."""
        if not self._ended and self._received:
            self._ended = True
            logger.info("Aborted request %s", self.request_id)

    async def follow(self, events: AsyncIterator[T]) -> AsyncIterator[T]:
        """`events` passed through and observed: (choice index, TurnEvent) pairs, or the
        TurnEvents of a single choice. Ending before the last TurnEnd (closed, cancelled or
        failed) logs Aborted; closing this closes `events`."""
        try:
            async for item in events:
                index, event = item if isinstance(item, tuple) else (0, item)
                self.observe(index, event)
                yield item
        finally:
            self.abort()
            await events.aclose()  # type: ignore[attr-defined]


def request_log(state: Any, request_id: str, num_prompts: int = 1,
                num_choices: int = 1) -> RequestLog | None:
    """The RequestLog of a request answered as `request_id` (`state`: the app's ServerState);
    None when the server does not log requests."""
    config = state.config
    if not config.log_requests:
        return None
    return RequestLog(request_id, prompt_decoder(state.engine), config.max_log_len,
                      num_prompts, num_choices)


def prompt_decoder(engine: Any) -> Callable[[list[int]], str] | None:
    """Token ids -> the prompt text the log shows (special tokens kept); None for an engine
    without a tokenizer."""
    tokenizer = getattr(engine, "tokenizer", None)
    if tokenizer is None:
        return None
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=False)  # type: ignore[no-any-return]


def on_prompt(log: RequestLog | None, prompt: int = 0) -> PromptHook | None:
    """`log`'s hook for prompt `prompt` (None without a log)."""
    return None if log is None else log.on_prompt(prompt)


def follow(log: RequestLog | None, events: AsyncIterator[T]) -> AsyncIterator[T]:
    """`events` observed by `log` (as they are without a log)."""
    return events if log is None else log.follow(events)


def compact_params(params: GenerationParams) -> str:
    """`GenerationParams(name=value, ...)` of the fields that differ from their defaults."""
    parts = []
    for f in fields(params):
        value = getattr(params, f.name)
        if value == f.default:
            continue
        parts.append(f"{f.name}={value!r}" if isinstance(value, _PLAIN)
                     else f"{f.name}={type(value).__name__}")
    return f"GenerationParams({', '.join(parts)})"

