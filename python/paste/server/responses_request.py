"""POST /v1/responses: the request body, validated into a TurnRequest.

`input` is a string (one user message) or a list of items, turned into chat messages:
    {"role", "content"} / {"type": "message", ...}   a message; content a string or text parts
    {"type": "function_call", "call_id", "name", "arguments"}   joins the assistant message
                                                     before it (or starts one) as a tool call
    {"type": "function_call_output", "call_id", "output"}       a tool message
    {"type": "reasoning", ...}                        skipped (this server produces none)
`instructions` becomes the first system message. Tools use the flat function form.
`text.format` json_object / json_schema constrain the output (engine/grammar.py).
`include` lists extra output to return: "message.output_text.logprobs" asks the engine for
logprobs, with `top_logprobs` (0-20, default 0) alternatives per token; the other entries
OpenAI defines name output this server never produces (reasoning, built-in tools, input
images), so they add nothing; any other entry is a 400. `top_logprobs` without the logprobs
entry is validated and echoed but asks for nothing (as in OpenAI's API: `include` decides).
Unsupported: previous_response_id / conversation (the server stores no responses; send the
whole input), non-function tools.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from paste.engine.request import MAX_LOGPROBS
from paste.server.chat_request import response_grammar, sampling_params
from paste.server.errors import BadRequestError
from paste.server.fields import INT32_MAX, opt_bool, opt_int, opt_list, opt_str, req_str
from paste.server.tools_schema import parse_tool_choice, parse_tools
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


INCLUDE_LOGPROBS = "message.output_text.logprobs"
# include entries OpenAI defines for output this server never produces: nothing to add
_INCLUDE_NOTHING = frozenset({
    "reasoning.encrypted_content", "file_search_call.results", "web_search_call.results",
    "web_search_call.action.sources", "message.input_image.image_url",
    "computer_call_output.output.image_url", "code_interpreter_call.outputs",
})  # fmt: skip


def _wants_logprobs(body: dict[str, Any]) -> bool:
    """Whether `include` (null or an array of known strings) asks for logprobs."""
    include = opt_list(body, "include") or []
    for entry in include:
        if not isinstance(entry, str):
            raise BadRequestError("'include' must be an array of strings", param="include",
                                  code="invalid_value")  # fmt: skip
        if entry != INCLUDE_LOGPROBS and entry not in _INCLUDE_NOTHING:
            raise BadRequestError(f"'include' entry {entry!r} is not supported",
                                  param="include", code="unsupported_value")  # fmt: skip
    return INCLUDE_LOGPROBS in include


def _messages(value: Any, instructions: str | None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    if isinstance(value, str):
        return messages + [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise BadRequestError("'input' must be a string or a non-empty array", param="input")
    for i, item in enumerate(value):
        at = f"input[{i}]"
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message":
            messages.append({"role": item.get("role"), "content": item.get("content")})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments")}}  # fmt: skip
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant":
                last = {"role": "assistant", "content": ""}
                messages.append(last)
            last.setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else content_text(output, f"{at}.output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
        elif kind == "reasoning":
            continue
        else:
            raise BadRequestError(f"'{at}.type' {kind!r} is not supported", param=f"{at}.type")
    return normalize_messages(messages, "input")


def parse_responses_request(body: dict[str, Any], default_max_tokens: int) -> ResponsesRequest:
    model = req_str(body, "model")
    for key in ("previous_response_id", "conversation"):
        if body.get(key) is not None:
            raise BadRequestError(
                f"'{key}' is not supported: this server stores no responses; send the whole "
                "conversation as 'input'", param=key, code="unsupported_parameter",
            )  # fmt: skip
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    grammar = response_grammar(fmt, "text.format", flat=True)
    instructions = opt_str(body, "instructions")
    max_output_tokens = opt_int(body, "max_output_tokens", minimum=1, maximum=INT32_MAX)
    top_logprobs = opt_int(body, "top_logprobs", minimum=0, maximum=MAX_LOGPROBS)
    logprobs = (top_logprobs or 0) if _wants_logprobs(body) else None
    tools = parse_tools(body.get("tools"), flat=True)
    turn = TurnRequest(
        messages=_messages(body.get("input"), instructions),
        tools=tools,
        tool_choice=parse_tool_choice(body.get("tool_choice"), tools, flat=True),
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls", True),
        params=replace(sampling_params(body, max_output_tokens, default_max_tokens, ()),
                       grammar=grammar, logprobs=logprobs),
        cache_key=opt_str(body, "prompt_cache_key"),
    )
    echoed = dict(fmt) if isinstance(fmt, dict) and fmt.get("type") else {"type": "text"}
    return ResponsesRequest(model, turn, opt_bool(body, "stream", False), instructions,
                            max_output_tokens, body, echoed, top_logprobs)  # fmt: skip
