"""TurnRequest: one model turn as both HTTP APIs describe it, and the chat messages it holds.

Chat Completions and Responses requests are both parsed into a TurnRequest (normalised OpenAI
chat messages, nested function tools, ToolChoice, GenerationParams); generation.py runs it.
Messages are normalised here: content parts are joined to one string, "developer" becomes
"system", assistant tool calls are checked (arguments must be a JSON object string) and tool
messages get the name of the call they answer. An assistant message's thinking, as this server
returns it (`reasoning_content`, or vLLM's newer `reasoning`), is kept as `reasoning_content`
for the chat template: Qwen3's renders the thinking of the turns since the last user message,
so a tool loop shows the model its own reasoning (and the engine's cached prefix matches it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from paste.engine.request import GenerationParams
from paste.server.errors import BadRequestError
from paste.server.tools_schema import ToolChoice

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant",
          "tool": "tool"}  # fmt: skip
_TEXT_PARTS = ("text", "input_text", "output_text")


@dataclass
class TurnRequest:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool = True
    params: GenerationParams = field(default_factory=GenerationParams)
    cache_key: str | None = None
    # Legacy completions: the prompt as token ids, sent as is (no chat template, no messages).
    prompt_ids: list[int] | None = None
    # BatchLoop priority of the engine request (co-scheduling, generation.api_priority)
    priority: float = 0.0
    # vLLM's request `priority`: lower runs first; a class above every co-scheduling term
    request_priority: int = 0
    # tools marked `strict`: under tool_choice "auto" their calls are constrained (prompt.py)
    strict_tools: frozenset[str] = frozenset()
    # vLLM's chat_template_kwargs: extra variables of the chat template (enable_thinking)
    template_kwargs: dict[str, Any] | None = None
    # vLLM's return_token_ids: the answer carries the prompt's and the output's token ids
    return_token_ids: bool = False
    # vLLM's prompt ending: the assistant's header after the messages (default), or the last
    # (assistant) message left open for the model to continue (a prefilled answer)
    add_generation_prompt: bool = True
    continue_final_message: bool = False
    # vLLM's truncate_prompt_tokens: only the prompt's last k tokens (-1: what the context
    # holds with one token to write); fields.prompt_truncation
    truncate_prompt_tokens: int | None = None
    # OpenAI's predicted output: text most of the answer copies, drafted after the output so
    # far (engine/prediction.py); the chat route tokenizes it into params.prediction
    prediction: str | None = None
    # vLLM's continuous_usage_stats: run_turn reports the token counts of each engine output
    # (generation.TokenCountPiece), so every streamed chunk can carry its choice's usage
    token_counts: bool = False

    @property
    def returning(self) -> bool:
        """Whether the turn continues a conversation (an earlier answer or a tool result is in
        it) rather than starting one: co-scheduling runs such turns first."""
        return any(m["role"] in ("assistant", "tool") for m in self.messages)

    @property
    def forces_call(self) -> bool:
        """Whether the answer is made to be a call (tools, tool_choice "required" or a named
        function): prompt.forced_call_prefix opens it, prompt.arguments_grammar constrains it."""
        return bool(self.tools) and self.tool_choice.mode in ("required", "function")

    @property
    def guards_calls(self) -> bool:
        """Whether every call the model opens is constrained under tool_choice "auto" (a tool
        marked strict, or allowed_tools): prompt.calls_grammar."""
        choice = self.tool_choice
        return bool(self.tools) and choice.mode == "auto" and bool(
            self.strict_tools or choice.allowed)

    @property
    def parses_tools(self) -> bool:
        """Whether the output is scanned for tool calls (tools given and choice not none)."""
        return bool(self.tools) and self.tool_choice.mode != "none"


def content_text(content: Any, param: str) -> str:
    """A message content (string, null or an array of text parts) as one string."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                pieces.append(part)
            elif (
                isinstance(part, dict)
                and part.get("type") in _TEXT_PARTS
                and isinstance(part.get("text"), str)
            ):
                pieces.append(part["text"])
            else:
                raise BadRequestError(
                    f"'{param}[{i}]' must be a text part (this server handles text only)",
                    param=f"{param}[{i}]",
                )
        return "".join(pieces)
    raise BadRequestError(f"'{param}' must be a string or an array of text parts", param=param)


def tool_call(call: Any, param: str) -> dict[str, Any]:
    """An assistant message's tool call, checked; arguments stay a JSON string."""
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise BadRequestError(f"'{param}' must have function.name", param=param)
    arguments = fn.get("arguments") or "{}"
    try:
        decoded = json.loads(arguments) if isinstance(arguments, str) else None
    except json.JSONDecodeError:
        decoded = None
    if not isinstance(decoded, dict):
        raise BadRequestError(
            f"'{param}.function.arguments' must be a JSON object string", param=param
        )
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise BadRequestError(f"'{param}.id' must be a non-empty string", param=param)
    return {"id": call_id, "type": "function",
            "function": {"name": fn["name"], "arguments": arguments}}  # fmt: skip


def _reasoning(message: dict[str, Any], at: str) -> str:
    """An assistant message's thinking ('' for none); a 400 for a value that is not text."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadRequestError(f"'{at}.{key}' must be a string", param=f"{at}.{key}")
        return value
    return ""


def normalize_messages(value: Any, param: str = "messages") -> list[dict[str, Any]]:
    """Chat messages in the normalised form described in the module docstring."""
    if not isinstance(value, list) or not value:
        raise BadRequestError(f"'{param}' must be a non-empty array", param=param)
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name
    for i, message in enumerate(value):
        at = f"{param}[{i}]"
        raw_role = message.get("role") if isinstance(message, dict) else None
        role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None:
            raise BadRequestError(
                f"'{at}.role' must be one of system, developer, user, assistant, tool",
                param=f"{at}.role",
            )
        text = content_text(message.get("content"), f"{at}.content")
        normalized: dict[str, Any] = {"role": role, "content": text}
        if role == "assistant":
            reasoning = _reasoning(message, at)
            if reasoning:
                normalized["reasoning_content"] = reasoning
        if role == "assistant" and message.get("tool_calls"):
            calls = message["tool_calls"]
            if not isinstance(calls, list):
                raise BadRequestError(f"'{at}.tool_calls' must be an array", param=at)
            normalized["tool_calls"] = [
                tool_call(c, f"{at}.tool_calls[{j}]") for j, c in enumerate(calls)
            ]
            names.update((c["id"], c["function"]["name"]) for c in normalized["tool_calls"])
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise BadRequestError(
                    f"'{at}.tool_call_id' must be a string", param=f"{at}.tool_call_id"
                )
            normalized["tool_call_id"] = call_id
            if call_id in names:
                normalized["name"] = names[call_id]
        out.append(normalized)
    return out
