"""POST /v1/chat/completions: the request body, validated into a TurnRequest.

Supported: messages, tools, tool_choice, parallel_tool_calls, temperature, top_p, max_tokens /
max_completion_tokens, stop, seed, n (1-128 choices, server/choices.py), stream,
stream_options.include_usage, prompt_cache_key (the engine keeps that conversation's KV
parked between requests), presence_penalty / frequency_penalty (-2..2), logit_bias ({"token
id": -100..100}), vLLM's extra sampling fields top_k, min_p, repetition_penalty, min_tokens,
ignore_eos, stop_token_ids, include_stop_str_in_output, allowed_token_ids, bad_words
(engine/penalties.py, sampler.py),
response_format json_object / json_schema (the output is constrained, engine/grammar.py),
logprobs / top_logprobs (<= --max-logprobs, 20 by default: each output token's logprob),
include_reasoning (vLLM's: false leaves a reasoning parser's reasoning_content out),
prediction (OpenAI's Predicted Outputs: text the answer is expected to copy, drafted by the
engine, engine/prediction.py). A supported field with a bad
value is a 400 naming it; so are the deprecated functions / function_call (use tools), which
a client would otherwise believe honoured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from paste.engine.grammar import GrammarSpec
from paste.engine.request import MAX_LOGPROBS, GenerationParams
from paste.server.errors import BadRequestError
from paste.server.fields import (
    INT32_MAX,
    allowed_token_ids,
    bad_words,
    opt_bool,
    opt_int,
    opt_number,
    opt_object,
    opt_str,
    prompt_truncation,
    req_str,
    request_priority,
    stop_strings,
    stream_usage,
)
from paste.server.guided import guided_grammar, structural_tag_grammar
from paste.server.tools_schema import parse_tool_choice, parse_tools, strict_tool_names
from paste.server.turn import TurnRequest, content_text, normalize_messages

MAX_CHOICES = 128  # n: OpenAI's own limit


@dataclass
class ChatRequest:
    model: str
    turn: TurnRequest
    stream: bool
    include_usage: bool
    n: int = 1  # choices (server/choices.py)
    prompt_logprobs: bool = False  # vLLM's prompt_logprobs was given (not with stream)
    return_token_ids: bool = False  # vLLM's: prompt_token_ids and each choice's token_ids
    include_reasoning: bool = True  # vLLM's: false leaves reasoning_content out

    @property
    def continuous_usage(self) -> bool:
        """vLLM's continuous_usage_stats, streamed: usage in every chunk."""
        return self.turn.token_counts


def sampling_params(
    body: dict[str, Any], max_tokens: int | None, default_max_tokens: int, stop: tuple[str, ...]
) -> GenerationParams:
    """GenerationParams from the sampling fields both APIs share."""
    temperature = opt_number(body, "temperature", 0.0, 2.0)
    top_p = opt_number(body, "top_p", 0.0, 1.0)
    if top_p == 0.0:
        raise BadRequestError("'top_p' must be > 0", param="top_p", code="invalid_value")
    seed = opt_int(body, "seed")
    return GenerationParams(
        max_tokens=max_tokens or default_max_tokens,
        temperature=1.0 if temperature is None else temperature,
        top_p=1.0 if top_p is None else top_p,
        seed=seed,
        stop=stop,
        cache_salt=cache_salt(body),
    )


def cache_salt(body: dict[str, Any]) -> str | None:
    """vLLM's `cache_salt`: null or a non-empty string; the request reuses cached prompt KV
    only from requests of the same salt."""
    salt = opt_str(body, "cache_salt")
    if salt == "":
        raise BadRequestError("'cache_salt' must be a non-empty string", param="cache_salt",
                              code="invalid_value")
    return salt


def logit_bias(value: Any) -> tuple[tuple[int, float], ...]:
    """`logit_bias`: null or an object mapping token ids (as strings) to biases in [-100,
    100]. Whether an id is in the model's vocabulary is checked by the engine."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise BadRequestError("'logit_bias' must be an object of token id -> bias",
                              param="logit_bias")
    out = []
    for key, bias in value.items():
        if not (isinstance(key, str) and key.isdigit() and key.isascii()):
            raise BadRequestError(f"'logit_bias' key {key!r} is not a token id",
                                  param="logit_bias")
        if (isinstance(bias, bool) or not isinstance(bias, int | float)
                or not -100 <= bias <= 100):
            raise BadRequestError(f"'logit_bias[{key}]' must be a number in [-100, 100]",
                                  param="logit_bias")
        out.append((int(key), float(bias)))
    return tuple(out)


MAX_STOP_TOKEN_IDS = 64


def stop_token_ids(value: Any) -> tuple[int, ...]:
    """vLLM's `stop_token_ids`: null or an array of up to 64 token ids; the turn ends after
    any of them (it is part of the output, like the end-of-turn token)."""
    if value is None:
        return ()
    if (not isinstance(value, list) or len(value) > MAX_STOP_TOKEN_IDS
            or any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= INT32_MAX
                   for t in value)):
        raise BadRequestError(f"'stop_token_ids' must be an array of up to "
                              f"{MAX_STOP_TOKEN_IDS} token ids", param="stop_token_ids")
    return tuple(value)


def adjusted(body: dict[str, Any], params: GenerationParams,
             constrained: bool) -> GenerationParams:
    """`params` with the penalty and bias fields of Chat Completions and vLLM's extra
    sampling fields (top_k, min_p, repetition_penalty, min_tokens, ignore_eos,
    stop_token_ids, include_stop_str_in_output, allowed_token_ids, bad_words); `constrained`: the output follows a grammar
    (min_tokens and ignore_eos are refused)."""
    presence = opt_number(body, "presence_penalty", -2.0, 2.0)
    frequency = opt_number(body, "frequency_penalty", -2.0, 2.0)
    repetition = opt_number(body, "repetition_penalty", 0.0, 1e6)
    if repetition == 0.0:
        raise BadRequestError("'repetition_penalty' must be > 0", param="repetition_penalty")
    min_tokens = opt_int(body, "min_tokens", minimum=0, maximum=INT32_MAX) or 0
    if min_tokens > params.max_tokens:
        raise BadRequestError(f"'min_tokens' ({min_tokens}) exceeds max_tokens "
                              f"({params.max_tokens})", param="min_tokens")
    if min_tokens and constrained:
        raise BadRequestError("'min_tokens' cannot be combined with a constrained output "
                              "(response_format, a forced tool_choice or strict tools)",
                              param="min_tokens")
    top_k = opt_int(body, "top_k", minimum=-1, maximum=INT32_MAX)
    min_p = opt_number(body, "min_p", 0.0, 1.0)
    ignore_eos = opt_bool(body, "ignore_eos", False)
    if ignore_eos and constrained:
        raise BadRequestError("'ignore_eos' cannot be combined with a constrained output (its "
                              "grammar ends at the end-of-turn token)", param="ignore_eos")
    return replace(
        params,
        ignore_eos=ignore_eos,
        stop_token_ids=stop_token_ids(body.get("stop_token_ids")),
        include_stop_str_in_output=opt_bool(body, "include_stop_str_in_output", False),
        presence_penalty=presence or 0.0,
        frequency_penalty=frequency or 0.0,
        repetition_penalty=1.0 if repetition is None else repetition,
        logit_bias=logit_bias(body.get("logit_bias")),
        min_tokens=min_tokens,
        top_k=top_k or 0,
        min_p=min_p or 0.0,
        allowed_token_ids=allowed_token_ids(body.get("allowed_token_ids")),
        bad_words=bad_words(body.get("bad_words")),
    )


def response_grammar(value: Any, param: str = "response_format",
                     flat: bool = False) -> GrammarSpec | None:
    """A requested output format: {"type": "text"} (or absent): None; {"type":
    "json_object"}: any JSON object; {"type": "json_schema", "json_schema": {"name", "schema",
    "strict"}} (Chat Completions; `flat`, the Responses API's `text.format`: "name",
    "schema" beside "type"): JSON of `schema` (any object without one); {"type":
    "structural_tag", ...} (vLLM's, Chat Completions): guided.structural_tag_grammar. The
    output is then constrained (engine/grammar.py). `param` names the field in errors."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return GrammarSpec()
    if kind == "json_schema":
        where = param if flat else f"{param}.json_schema"
        spec = value if flat else value.get("json_schema")
        if not isinstance(spec, dict):
            raise BadRequestError(f"'{where}' must be an object", param=where)
        schema = spec.get("schema")
        if schema is None:
            return GrammarSpec()
        if not isinstance(schema, dict):
            raise BadRequestError(f"'{where}.schema' must be an object",
                                  param=f"{where}.schema")
        return GrammarSpec(json.dumps(schema))
    if kind == "structural_tag" and not flat:
        return structural_tag_grammar(value, param)
    kinds = "'text', 'json_object' or 'json_schema'" if flat else \
        "'text', 'json_object', 'json_schema' or 'structural_tag'"
    raise BadRequestError(f"'{param}.type' must be {kinds}", param=param,
                          code="unsupported_value")


def parse_chat_request(body: dict[str, Any], default_max_tokens: int,
                       max_logprobs: int = MAX_LOGPROBS) -> ChatRequest:
    """`max_logprobs`: the most alternatives per token `top_logprobs` and `prompt_logprobs`
    may ask for (the engine's)."""
    model = req_str(body, "model")
    for legacy in ("functions", "function_call"):  # deprecated by OpenAI: say so, not ignore
        if body.get(legacy) is not None:
            raise BadRequestError(f"'{legacy}' (deprecated) is not supported: send 'tools' and "
                                  "'tool_choice'", param=legacy, code="unsupported_parameter")
    n = opt_int(body, "n", minimum=1, maximum=MAX_CHOICES) or 1
    logprobs = opt_bool(body, "logprobs", False)
    top_logprobs = opt_int(body, "top_logprobs", minimum=0, maximum=max_logprobs)
    if top_logprobs is not None and not logprobs:
        raise BadRequestError("'top_logprobs' needs 'logprobs': true", param="top_logprobs")
    grammar = response_grammar(body.get("response_format"))
    guided = guided_grammar(body)
    if guided is not None and grammar is not None:
        raise BadRequestError("'response_format' json and a guided decoding field (vLLM's "
                              "guided_*, structured_outputs) cannot be combined",
                              param="response_format")
    grammar = guided or grammar
    max_tokens = opt_int(body, "max_completion_tokens", minimum=1, maximum=INT32_MAX)
    if max_tokens is None:
        max_tokens = opt_int(body, "max_tokens", minimum=1, maximum=INT32_MAX)
    tools = parse_tools(body.get("tools"), flat=False)
    stream = opt_bool(body, "stream", False)
    prompt_logprobs = prompt_logprobs_field(body, stream, max_logprobs)
    tool_choice = parse_tool_choice(body.get("tool_choice"), tools, flat=False)
    params = replace(sampling_params(
        body, max_tokens, default_max_tokens, stop_strings(body.get("stop"))
    ), grammar=grammar, logprobs=(top_logprobs or 0) if logprobs else None,
        prompt_logprobs=prompt_logprobs)
    strict = strict_tool_names(body.get("tools"), flat=False)
    calls = TurnRequest(messages=[], tools=tools, tool_choice=tool_choice, strict_tools=strict)
    forced = calls.forces_call or calls.guards_calls  # a grammar constrains the calls
    turn = TurnRequest(
        messages=normalize_messages(body.get("messages")),
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls", True),
        params=adjusted(body, params, constrained=grammar is not None or forced),
        cache_key=opt_str(body, "prompt_cache_key"),
        strict_tools=strict,
        request_priority=request_priority(body),
        template_kwargs=template_kwargs(body),
        return_token_ids=opt_bool(body, "return_token_ids", False),
        truncate_prompt_tokens=prompt_truncation(body),
        prediction=prediction_text(body.get("prediction")),
    )
    turn.add_generation_prompt, turn.continue_final_message = prompt_ending(body, turn.messages)
    usage, continuous = stream_usage(body)
    turn.token_counts = stream and continuous
    return ChatRequest(model, turn, stream, usage, n, prompt_logprobs is not None,
                       turn.return_token_ids, opt_bool(body, "include_reasoning", True))


def prediction_text(value: Any) -> str | None:
    """OpenAI's `prediction` (Predicted Outputs): {"type": "content", "content": a string or
    an array of text parts}, as the predicted text; None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") != "content" or set(value) - {
            "type", "content"}:
        raise BadRequestError("'prediction' must be {\"type\": \"content\", \"content\": "
                              "text}", param="prediction")
    if value.get("content") is None:
        raise BadRequestError("'prediction.content' is required", param="prediction.content")
    return content_text(value["content"], "prediction.content")


def prompt_logprobs_field(body: dict[str, Any], stream: bool,
                          max_logprobs: int = MAX_LOGPROBS) -> int | None:
    """vLLM's `prompt_logprobs` (0 to max_logprobs alternatives per prompt token); not with
    `stream`."""
    value = opt_int(body, "prompt_logprobs", minimum=0, maximum=max_logprobs)
    if value is not None and stream:
        raise BadRequestError("'prompt_logprobs' is not available with 'stream': true",
                              param="prompt_logprobs", code="unsupported_value")
    return value


def prompt_ending(body: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[bool, bool]:
    """vLLM's `add_generation_prompt` (default true: the assistant's header ends the prompt)
    and `continue_final_message` (default false: the last message, the assistant's, is left
    open and the answer continues it); both true, or continuing a message that is not the
    assistant's, is a 400."""
    add = opt_bool(body, "add_generation_prompt", True)
    cont = opt_bool(body, "continue_final_message", False)
    if cont and add:
        raise BadRequestError("'continue_final_message' needs 'add_generation_prompt': false "
                              "(the answer continues the last message instead of starting "
                              "one)", param="continue_final_message")
    if cont and (not messages or messages[-1]["role"] != "assistant"):
        raise BadRequestError("'continue_final_message' needs the last message to be the "
                              "assistant's", param="messages")
    return add, cont


# apply_chat_template's own arguments: not template variables a request may set
_RESERVED_TEMPLATE_ARGS = frozenset({
    "messages", "conversation", "tools", "documents", "chat_template", "tokenize",
    "add_generation_prompt", "continue_final_message", "return_dict", "padding",
    "truncation", "max_length", "return_tensors", "return_assistant_tokens_mask"})


def template_kwargs(body: dict[str, Any]) -> dict[str, Any] | None:
    """vLLM's `chat_template_kwargs`: an object of extra chat template variables (Qwen3's
    {"enable_thinking": false}); 400 for another type or a name the renderer owns."""
    kwargs = opt_object(body, "chat_template_kwargs")
    taken = sorted(set(kwargs or {}) & _RESERVED_TEMPLATE_ARGS)
    if taken:
        raise BadRequestError(f"'chat_template_kwargs' cannot set {', '.join(taken)}",
                              param="chat_template_kwargs")
    return kwargs or None
