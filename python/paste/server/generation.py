"""One model turn for the HTTP APIs: render, submit, stream, parse tool calls.

`run_turn` is an async generator of TurnEvents that both Chat Completions and Responses build
their answers from (streamed or not), so a streamed answer reassembles to exactly the
non-streamed one:

    TextPiece*  CallPiece*  ...  TurnEnd        (text and calls interleave in output order)

plus, when the turn asked for logprobs, a LogprobPiece before the pieces of each engine
output that decoded tokens (their TokenLogprobs); when it asked for prompt logprobs
(GenerationParams.prompt_logprobs), one PromptLogprobPiece before everything else; when it
asked for token ids (TurnRequest.return_token_ids), a TokenIdsPiece of the prompt first and
one of each engine output's new tokens before its pieces; when it asked for token counts
(TurnRequest.token_counts), a TokenCountPiece first and one before the pieces of each engine
output that decoded tokens; and, with a reasoning parser
(`paste serve --reasoning-parser`), ReasoningPiece for the model's thinking
(parsing/reasoning.py: the text between `<think>` and `</think>`, or up to `</think>` when
the prompt opened the thinking), which precedes the answer's pieces and is never parsed for
tool calls. A chat turn is split; a legacy completion (raw prompt) and a turn made to start
with a call are not.

Shaping (OutputShaper) when the output is parsed for tool calls: whitespace-only text is held
back until non-whitespace text follows, and dropped at the end if the turn made calls (so a
call surrounded by newlines gives no stray content); with parallel_tool_calls false only the
first call is kept. Each call gets a fresh id "call_<hex>"; its first CallPiece carries the
name, later ones only argument fragments.

tool_choice "required" or a named function: the prompt ends with the start of a call
(prompt.forced_call_prefix), which is fed to the shaper before the model's text, so the
answer begins inside a call; a named choice keeps only that first call, and (but for the
pythonic format) the rest is constrained to a call of one of the tools (the named one) with
arguments of its parameter schema, and the call's closing text (prompt.arguments_grammar,
engine/grammar.py). Under "auto" with a tool marked `strict`, every call the model opens is
constrained to a whole call of an offered tool (prompt.calls_grammar), unless response_format
already constrains the output.

The engine request is aborted (its sequence freed) whenever the generator is closed early:
client disconnect, cancellation, or an error.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from paste.engine.engine import EngineRestartingError, EngineStoppedError
from paste.engine.grammar import GrammarError
from paste.engine.penalties import LogitBiasError, NoTokenError
from paste.engine.request import GenerationParams, TokenLogprob
from paste.errors import InvalidArgumentError
from paste.parsing import ContentDelta, StreamingToolCallParser
from paste.parsing.reasoning import ReasoningSplitter, ReasoningTags
from paste.server.conversations import Outlook
from paste.server.errors import BadRequestError, ServiceUnavailableError
from paste.server.fields import class_base
from paste.server.prompt import (
    arguments_grammar,
    calls_grammar,
    forced_call_prefix,
    render_prompt,
)
from paste.server.pump import ThreadPump
from paste.server.turn import TurnRequest
from paste.session.priority import engine_kv_usage

RESTART_RETRY_AFTER_S = 2  # a small model's process restarts in a few seconds


@dataclass(frozen=True)
class TextPiece:
    text: str


@dataclass(frozen=True)
class ReasoningPiece:
    """Text of the model's thinking (with a reasoning parser)."""

    text: str


@dataclass(frozen=True)
class CallPiece:
    index: int
    call_id: str
    name: str | None  # set on the first piece of a call
    arguments: str  # a fragment


@dataclass(frozen=True)
class LogprobPiece:
    """The TokenLogprobs of output tokens not reported yet (only when the turn asked)."""

    entries: tuple[TokenLogprob, ...]


@dataclass(frozen=True)
class PromptLogprobPiece:
    """The prompt's token ids and their TokenLogprobs (None for the first token), once."""

    token_ids: tuple[int, ...]
    entries: tuple[TokenLogprob | None, ...]


@dataclass(frozen=True)
class TokenIdsPiece:
    """Token ids (TurnRequest.return_token_ids): the prompt's (`prompt`), once and first, then
    the output tokens of each engine output not reported yet."""

    token_ids: tuple[int, ...]
    prompt: bool = False


def token_text(engine: Any) -> Callable[[int], str]:
    """A token id's text under the engine's tokenizer (special tokens included); the id as
    text for an engine without a tokenizer."""
    tokenizer = getattr(engine, "tokenizer", None)
    if tokenizer is None:
        return str
    return lambda token_id: tokenizer.decode([token_id], skip_special_tokens=False)


def logprob_entries(piece: LogprobPiece, token_text: Callable[[int], str]) -> list[dict[str, Any]]:
    """`piece` as the logprob objects both APIs return, one per token:
    {token, logprob, bytes (the token text's UTF-8), top_logprobs: [{token, logprob, bytes}]}."""

    def entry(token_id: int, logprob: float) -> dict[str, Any]:
        text = token_text(token_id)
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    return [dict(entry(e.token_id, e.logprob), top_logprobs=[entry(t, v) for t, v in e.top])
            for e in piece.entries]  # fmt: skip


def prompt_logprob_entries(piece: PromptLogprobPiece,
                           token_text: Callable[[int], str]) -> list[dict[str, Any] | None]:
    """`piece` as vLLM's `prompt_logprobs`: per prompt token None (the first) or {token id:
    {logprob, rank, decoded_token}} for the token itself and its most likely alternatives
    (ranks 1, 2, ... in order; the token's own rank when it is not among them)."""
    out: list[dict[str, Any] | None] = []
    for token_id, e in zip(piece.token_ids, piece.entries, strict=True):
        if e is None:
            out.append(None)
            continue
        scores = {str(token_id): {"logprob": e.logprob, "rank": e.rank,
                                  "decoded_token": token_text(token_id)}}
        for rank, (t, v) in enumerate(e.top, start=1):
            scores.setdefault(str(t), {"logprob": v, "rank": rank,
                                       "decoded_token": token_text(t)})
        out.append(scores)
    return out


@dataclass(frozen=True)
class TokenCountPiece:
    """The turn's token counts so far (TurnRequest.token_counts): the prompt's, once first
    with 0 output tokens, then after each engine output that decoded tokens."""

    num_prompt_tokens: int
    num_completion_tokens: int


@dataclass(frozen=True)
class TurnEnd:
    finish_reason: str  # "stop" | "length" | "tool_calls"
    num_prompt_tokens: int
    num_cached_tokens: int
    num_completion_tokens: int
    ttft_s: float | None
    tpot_s: float | None = None  # mean time per output token after the first
    # output tokens up to the end of the thinking (a reasoning parser; its closing tag too)
    num_reasoning_tokens: int = 0
    stop_reason: int | str | None = None  # vLLM's: the stop string or stop token id that hit
    # a predicted output's drafted tokens the model accepted and rejected (None: no prediction)
    prediction_tokens: tuple[int, int] | None = None


TurnEvent = (TextPiece | ReasoningPiece | CallPiece | LogprobPiece | PromptLogprobPiece
             | TokenIdsPiece | TokenCountPiece | TurnEnd)


class OutputShaper:
    """Model text deltas -> TextPiece / CallPiece (see the module docstring)."""

    def __init__(self, parser_format: str | None, parallel_tool_calls: bool) -> None:
        self._parser = StreamingToolCallParser(parser_format) if parser_format else None
        self._parallel = parallel_tool_calls
        self._held = ""
        self._ids: dict[int, str] = {}

    @property
    def num_calls(self) -> int:
        return len(self._ids)

    def feed(self, delta: str) -> list[TextPiece | CallPiece]:
        if self._parser is None:
            return [TextPiece(delta)] if delta else []
        return self._shape(self._parser.feed(delta))

    def close(self) -> list[TextPiece | CallPiece]:
        if self._parser is None:
            return []
        pieces = self._shape(self._parser.close())
        if self._held and not self._ids:
            pieces.append(TextPiece(self._held))
        self._held = ""
        return pieces

    def _shape(self, events: list[Any]) -> list[TextPiece | CallPiece]:
        pieces: list[TextPiece | CallPiece] = []
        for event in events:
            if isinstance(event, ContentDelta):
                text = self._held + event.text
                if text.strip():
                    pieces.append(TextPiece(text))
                    self._held = ""
                else:
                    self._held = text
                continue
            if event.index > 0 and not self._parallel:
                continue
            first = event.index not in self._ids
            if first:
                self._ids[event.index] = f"call_{uuid.uuid4().hex[:24]}"
            name = event.name if first else None
            pieces.append(CallPiece(event.index, self._ids[event.index], name, event.arguments))
        return pieces


def _answer(splitter: ReasoningSplitter | None, shaper: OutputShaper,
            delta: str | None) -> list[ReasoningPiece | TextPiece | CallPiece]:
    """The pieces of an output delta (None: the output ended): the thinking as
    ReasoningPiece, the answer through the shaper."""
    pieces: list[ReasoningPiece | TextPiece | CallPiece] = []
    if splitter is not None:
        for is_reasoning, text in (splitter.feed(delta) if delta is not None
                                   else splitter.close()):
            if is_reasoning:
                pieces.append(ReasoningPiece(text))
            else:
                pieces.extend(shaper.feed(text))
    elif delta is not None:
        pieces.extend(shaper.feed(delta))
    if delta is None:
        pieces.extend(shaper.close())
    return pieces


def truncated(prompt: list[int], keep: int | None, limit: int | None) -> list[int]:
    """The prompt's last `keep` tokens (TurnRequest.truncate_prompt_tokens; -1: the last
    `limit` - 1, so that a token can be written; None: all of them)."""
    if keep == -1:
        keep = None if limit is None else limit - 1
    return prompt if keep is None else prompt[-keep:]


def context_limit(engine: Any) -> int | None:
    """The engine's max_model_len (None for an engine that does not say)."""
    return getattr(engine, "max_model_len", None)


def api_priority(policy: Any, engine: Any, turn: TurnRequest,
                 outlook: Outlook | None = None) -> float:
    """The BatchLoop priority of an HTTP turn: its request `priority` class (fields.py),
    adjusted under CoSchedulingPolicy `policy` (None: the class alone):
    a turn that continues a conversation (TurnRequest.returning: after its tools, or a
    follow-up) is boosted, as a native session's later turns are, a new one is lowered only
    above the KV band. `outlook` (conversations.py: a keyed conversation's recent turns)
    adds the expected-work and tool-time terms; without it only the boost and the band
    apply."""
    base = class_base(turn.request_priority)  # the request's own `priority` class
    if policy is None:
        return base
    outlook = outlook or Outlook()
    return float(policy.priority(base, turn.returning, 0.0, engine_kv_usage(engine),
                                 outlook.expected_tokens, outlook.expected_tool_s))


def submit(engine: Any, turn: TurnRequest, prompt_ids: list[int]) -> Any:
    """The engine request of `turn` (a parked conversation when a cache key is given).

    max_tokens above the context length is lowered to it: no turn can be longer."""
    limit = context_limit(engine)
    if limit is not None and turn.params.max_tokens > limit:
        turn.params = replace(turn.params, max_tokens=limit,
                              min_tokens=min(turn.params.min_tokens, limit))
    try:
        if turn.cache_key and turn.params.prompt_logprobs is None:  # scoring computes all
            return engine.submit_turn(turn.cache_key, prompt_ids, turn.params, turn.priority)
        return engine.submit(prompt_ids, turn.params, turn.priority)
    except EngineStoppedError as exc:
        raise unavailable(exc) from None


def _prediction_tokens(turn: TurnRequest, metrics: dict[str, float]) -> tuple[int, int] | None:
    """(accepted, rejected) drafted prediction tokens of a turn with a prediction (0, 0 when
    the engine drafted none: logprobs or logit adjustments asked for)."""
    if turn.prediction is None:
        return None
    return (int(metrics.get("accepted_prediction_tokens", 0)),
            int(metrics.get("rejected_prediction_tokens", 0)))


def unavailable(exc: EngineStoppedError) -> ServiceUnavailableError:
    """503; while a new engine process starts, retryable (Retry-After, code
    "engine_restarting")."""
    if isinstance(exc, EngineRestartingError):
        return ServiceUnavailableError(str(exc), code="engine_restarting",
                                       retry_after_s=RESTART_RETRY_AFTER_S)
    return ServiceUnavailableError(str(exc))


async def run_turn(
    engine: Any,
    turn: TurnRequest,
    parser_format: str,
    on_end: Callable[[TurnEnd, float], None] | None = None,
    format_param: str = "response_format",
    on_started: Callable[[], None] | None = None,
    reasoning: ReasoningTags | None = None,
    on_prompt: Callable[[list[int], GenerationParams], None] | None = None,
) -> AsyncIterator[TurnEvent]:
    """The events of one turn; errors before the first token raise typed ApiErrors
    (`format_param`: the request field of the output format, named by its errors).
    `on_started()` runs once, at the engine's first output (the prompt is computed).
    `reasoning`: the tags of the server's reasoning parser (None: no split).
    `on_prompt(prompt_ids, params)` runs once, just before the turn is submitted, with the
    prompt as rendered (truncated, a forced call's opening added) and the turn's parameters
    (the request log, request_log.py)."""
    started = time.monotonic()
    prompt = truncated(render_prompt(engine, turn, parser_format), turn.truncate_prompt_tokens,
                       context_limit(engine))
    forced = forced_call_prefix(turn, parser_format) if turn.parses_tools else ""
    if forced:  # tool_choice "required" / a function: the answer starts as a call
        prompt = list(prompt) + list(engine.encode(forced))
        grammar = arguments_grammar(turn, parser_format)
        if grammar is not None:  # a call of one of the tools, with schema-valid arguments
            turn.params = replace(turn.params, grammar=grammar)
    strict = None
    if turn.parses_tools and turn.params.grammar is None:  # response_format keeps its own
        strict = calls_grammar(turn, parser_format)
        if strict is not None:  # "auto" with strict tools: every call opened is whole, valid
            turn.params = replace(turn.params, grammar=strict)
    if on_prompt is not None:
        on_prompt(prompt, turn.params)
    handle = submit(engine, turn, prompt)
    pump = ThreadPump(iter(handle), abort=handle.abort)
    named = turn.tool_choice.mode == "function"  # one call of that function
    shaper = OutputShaper(parser_format if turn.parses_tools else None,
                          turn.parallel_tool_calls and not named)
    splitter = None
    if reasoning is not None and turn.prompt_ids is None and not forced:
        text = token_text(engine)
        splitter = ReasoningSplitter.after_prompt(
            reasoning, prompt, lambda ids: "".join(text(t) for t in ids))
    out = None
    ids_sent = 0  # output token ids yielded (return_token_ids)
    thought = 0  # output tokens of the thinking (with a reasoning parser)
    counted = 0  # output tokens whose count was yielded (token_counts)
    try:
        if turn.token_counts:
            yield TokenCountPiece(len(prompt), 0)
        if turn.return_token_ids:
            yield TokenIdsPiece(tuple(prompt), prompt=True)
        for piece in shaper.feed(forced):
            yield piece
        reported = 0  # output tokens whose logprobs were yielded
        scored = False  # the prompt's logprobs were yielded
        async for out in pump:
            if on_started is not None:
                on_started()
                on_started = None
            if out.prompt_logprobs is not None and not scored:
                scored = True
                yield PromptLogprobPiece(tuple(prompt), tuple(out.prompt_logprobs))
            if turn.token_counts and len(out.token_ids) > counted:
                counted = len(out.token_ids)
                yield TokenCountPiece(out.num_prompt_tokens, counted)
            if turn.return_token_ids and len(out.token_ids) > ids_sent:
                yield TokenIdsPiece(tuple(out.token_ids[ids_sent:]))
                ids_sent = len(out.token_ids)
            if out.logprobs is not None and len(out.logprobs) > reported:
                yield LogprobPiece(tuple(out.logprobs[reported:]))
                reported = len(out.logprobs)
            in_thought = splitter is not None and splitter.thinking
            for answer in _answer(splitter, shaper, out.delta):
                yield answer
            if in_thought:  # this output's tokens began inside the thinking
                thought = len(out.token_ids)
        for answer in _answer(splitter, shaper, None):
            yield answer
    except LogitBiasError as exc:  # a token id the model does not have
        param = "allowed_token_ids" if "allowed_token_ids" in str(exc) else "logit_bias"
        raise BadRequestError(str(exc), param=param) from None
    except GrammarError as exc:  # a schema the grammar compiler cannot build
        param = "tools" if forced or strict is not None else format_param
        raise BadRequestError(str(exc), param=param) from None
    except NoTokenError as exc:  # e.g. allowed_token_ids the grammar excludes
        param = format_param if exc.param == "response_format" else exc.param
        raise BadRequestError(str(exc), param=param) from None
    except InvalidArgumentError as exc:  # e.g. the prompt does not fit the context
        where = "prompt" if turn.prompt_ids is not None else "messages"
        raise BadRequestError(str(exc), param=where) from None
    except EngineStoppedError as exc:
        raise unavailable(exc) from None
    finally:
        pump.close()
    if out is None or out.finish_reason == "abort":
        raise ServiceUnavailableError("the engine aborted the request")
    reason = "tool_calls" if shaper.num_calls else (out.finish_reason or "stop")
    end = TurnEnd(reason, out.num_prompt_tokens, out.num_cached_tokens, len(out.token_ids),
                  out.metrics.get("ttft_s"), out.metrics.get("tpot_s"),
                  thought if splitter is not None and splitter.reasoned else 0,
                  out.stop_reason, _prediction_tokens(turn, out.metrics))  # fmt: skip
    if on_end is not None:
        on_end(end, time.monotonic() - started)
    yield end
