"""POST /v1/completions (legacy text completions): the request body, validated into one
TurnRequest per prompt.

`prompt` is a string, an array of strings, an array of token ids, or an array of arrays of
token ids; each prompt is sent as it is (no chat template; a string is tokenised with the
model's own special tokens, e.g. a BOS, as vLLM does). Supported beside it: max_tokens
(default 16, as OpenAI's), temperature, top_p, n, stop, seed, stream, stream_options
(include_usage, vLLM's continuous_usage_stats), echo, logprobs (0 to --max-logprobs
alternatives, 20 by default), presence_penalty, frequency_penalty, logit_bias, vLLM's extra
sampling fields (chat_request.adjusted) and its guided decoding fields (server/guided.py).

Scoring (lm-eval's loglikelihood requests): `echo` with `logprobs` puts the prompt's tokens
first in `logprobs` (the first one's logprob and alternatives null), and `max_tokens: 0` with
`echo` returns the prompt alone (nothing generated: completion_tokens 0, finish_reason
"length"); vLLM's `prompt_logprobs` (0 to --max-logprobs) adds each choice's
`prompt_logprobs`. Either computes every prompt token (engine
GenerationParams.prompt_logprobs). vLLM's `return_token_ids` adds each choice's
`prompt_token_ids` and `token_ids`.
Refused with 400 rather than ignored: `suffix` (no fill-in-the-middle), `best_of` other than
n, `prompt_logprobs` with `stream` (as vLLM), more than 128 choices (prompts x n).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from paste.engine.request import MAX_LOGPROBS
from paste.server.chat_request import (
    MAX_CHOICES,
    adjusted,
    prompt_logprobs_field,
    sampling_params,
)
from paste.server.errors import BadRequestError
from paste.server.fields import (
    INT32_MAX,
    opt_bool,
    opt_int,
    prompt_truncation,
    req_str,
    request_priority,
    stop_strings,
    stream_usage,
)
from paste.server.guided import guided_grammar
from paste.server.turn import TurnRequest

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for legacy completions


@dataclass
class CompletionRequest:
    model: str
    turns: list[TurnRequest]  # one per prompt; choice index = prompt index * n + j
    n: int
    stream: bool
    include_usage: bool
    echo: bool
    prompt_texts: list[str | None]  # each prompt as sent when it was text (for echo)
    echo_only: bool = False  # max_tokens 0 with echo: the prompt alone
    prompt_logprobs: bool = False  # vLLM's prompt_logprobs field was given

    @property
    def continuous_usage(self) -> bool:
        """vLLM's continuous_usage_stats, streamed: usage in every chunk."""
        return self.turns[0].token_counts


def _is_ids(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(t, int) and not isinstance(t, bool) for t in value)


def prompts(value: Any, encode: Callable[[str], list[int]],
            param: str = "prompt") -> list[tuple[list[int], str | None]]:
    """Each prompt of `prompt` as (token ids, its text when it was sent as text); see the
    module docstring for the forms. `param`: the field's name (/v1/embeddings' `input` takes
    the same forms)."""
    bad = BadRequestError(f"'{param}' must be a string, an array of strings, an array of "
                          f"token ids or an array of arrays of token ids", param=param)
    if isinstance(value, str):
        return [(encode(value), value)]
    if not isinstance(value, list) or not value:
        raise bad
    if _is_ids(value):
        return [(list(value), None)]
    if all(isinstance(p, str) for p in value):
        return [(encode(p), p) for p in value]
    if all(_is_ids(p) and p for p in value):
        return [(list(p), None) for p in value]
    raise bad


def parse_completion_request(body: dict[str, Any], encode: Callable[[str], list[int]],
                             max_logprobs: int = MAX_LOGPROBS) -> CompletionRequest:
    """`encode(text)`: the model's token ids of a prompt text, special tokens included;
    `max_logprobs`: the most alternatives per token `logprobs` and `prompt_logprobs` may ask
    for (the engine's)."""
    model = req_str(body, "model")
    if body.get("suffix") is not None:
        raise BadRequestError("'suffix' is not supported (no fill-in-the-middle)",
                              param="suffix", code="unsupported_parameter")
    n = opt_int(body, "n", minimum=1, maximum=MAX_CHOICES) or 1
    best_of = opt_int(body, "best_of", minimum=1, maximum=MAX_CHOICES)
    if best_of is not None and best_of != n:
        raise BadRequestError("'best_of' other than n is not supported", param="best_of",
                              code="unsupported_value")
    logprobs = opt_int(body, "logprobs", minimum=0, maximum=max_logprobs)
    echo = opt_bool(body, "echo", False)
    stream = opt_bool(body, "stream", False)
    asked = prompt_logprobs_field(body, stream, max_logprobs)
    max_tokens = opt_int(body, "max_tokens", minimum=0 if echo else 1, maximum=INT32_MAX)
    echo_only = max_tokens == 0  # the engine decodes one token, which is not returned
    scored = [k for k in (asked, logprobs if echo else None) if k is not None]
    params = replace(sampling_params(body, 1 if echo_only else max_tokens, DEFAULT_MAX_TOKENS,
                                     stop_strings(body.get("stop"))), logprobs=logprobs,
                     prompt_logprobs=max(scored) if scored else None)
    grammar = guided_grammar(body)  # vLLM's guided_* / structured_outputs
    params = adjusted(body, replace(params, grammar=grammar), constrained=grammar is not None)
    given = prompts(body.get("prompt"), encode)
    if len(given) * n > MAX_CHOICES:
        raise BadRequestError(f"{len(given)} prompts x n={n} exceed {MAX_CHOICES} choices",
                              param="n")
    priority = request_priority(body)
    token_ids, truncation = opt_bool(body, "return_token_ids", False), prompt_truncation(body)
    usage, continuous = stream_usage(body)
    counts = stream and continuous
    turns = [TurnRequest(messages=[], params=params, prompt_ids=ids, request_priority=priority,
                         return_token_ids=token_ids, truncate_prompt_tokens=truncation,
                         token_counts=counts)
             for ids, _ in given]
    return CompletionRequest(model, turns, n, stream, usage, echo,
                             [text for _, text in given], echo_only, asked is not None)
