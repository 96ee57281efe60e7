"""POST /tokenize and POST /detokenize (vLLM's utility routes): token ids under the served
model's own tokenizer, so a client can count a prompt against the context before sending it.

/tokenize takes either {"prompt": text, "add_special_tokens": true} (the ids legacy
completions would compute, completions_request) or {"messages": [...], "tools": [...],
"chat_template_kwargs": {...}, "add_generation_prompt", "continue_final_message"} (the exact
prompt a chat completion would compute: chat template, tool schemas, template variables, the
prompt's ending, prompt.py) and
answers {"count", "max_model_len", "tokens"}. /detokenize takes {"tokens": [ids]} and answers
{"prompt": text}. `model`, when given, must be the served one.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from paste.server.body import read_json_object
from paste.server.chat_request import prompt_ending, template_kwargs
from paste.server.errors import BadRequestError
from paste.server.fields import opt_bool, opt_str
from paste.server.generation import context_limit
from paste.server.prompt import render_prompt
from paste.server.state import ServerState, server_state
from paste.server.tools_schema import parse_tool_choice, parse_tools
from paste.server.turn import TurnRequest, normalize_messages


async def _body(request: Request) -> tuple[ServerState, dict[str, Any]]:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    model = opt_str(body, "model")
    if model is not None:
        state.check_model(model)
    return state, body


def vocabulary_size(engine: Any) -> int:
    """Token ids the tokenizer can decode and the model has: [0, this)."""
    sizes = [len(engine.tokenizer)]
    model_size = getattr(engine, "vocab_size", None)
    if model_size is not None:
        sizes.append(model_size)
    return min(sizes)


async def tokenize(request: Request) -> Response:
    state, body = await _body(request)
    engine = state.engine
    if body.get("messages") is not None:
        if body.get("prompt") is not None:
            raise BadRequestError("give either 'prompt' or 'messages', not both", param="prompt")
        tools = parse_tools(body.get("tools"), flat=False)
        messages = normalize_messages(body.get("messages"))
        add, cont = prompt_ending(body, messages)
        turn = TurnRequest(messages=messages, tools=tools,
                           tool_choice=parse_tool_choice(body.get("tool_choice"), tools,
                                                         flat=False),
                           template_kwargs=template_kwargs(body), add_generation_prompt=add,
                           continue_final_message=cont)
        ids = render_prompt(engine, turn, state.parser_format)
    else:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise BadRequestError("'prompt' (a string) or 'messages' is required",
                                  param="prompt")
        special = opt_bool(body, "add_special_tokens", True)
        ids = list(engine.tokenizer.encode(prompt, add_special_tokens=special))
    return JSONResponse({"count": len(ids), "max_model_len": context_limit(engine),
                         "tokens": ids})


async def detokenize(request: Request) -> Response:
    state, body = await _body(request)
    tokens = body.get("tokens")
    size = vocabulary_size(state.engine)
    if not isinstance(tokens, list) or any(
            isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < size for t in tokens):
        raise BadRequestError(f"'tokens' must be an array of token ids in [0, {size})",
                              param="tokens")
    return JSONResponse({"prompt": state.engine.tokenizer.decode(tokens)})
