"""How a session's transcript is shown to the model through the model's own chat template.

`session.messages` are OpenAI chat messages (assistant tool-call arguments as JSON strings).
Chat templates differ in what they render, so before each turn the transcript is mapped to
the template's view (`render_view`):
- a template that renders `tools` gets registry.openai_tools(); one that does not (SmolLM2,
  plain ChatML) gets the tool list and the call syntax of the session's parser format in the
  system message instead, so the model still knows its tools;
- assistant turns the model wrote are shown in one of two ways (`assistant_view`):
  "raw" (default): the model's exact output text as content, so the rendered conversation
  repeats the model's own tokens and the engine's parked KV of the session is reused in full on
  the next turn (only the tool results and the next generation prompt are prefilled);
  "template": OpenAI `tool_calls` (arguments as objects, what HF templates expect) and the text
  outside the calls as content, rendered the template's way; the rendering usually differs from
  what the model wrote, so reuse stops at the first differing block (prefix cache). A template
  that does not render `tool_calls` gets the raw text in both modes, or the model would never
  see its own calls.

Mistral's templates accept only tool call ids of exactly 9 letters and digits (and raise on
any other); for the mistral formats every other id, in assistant `tool_calls` and in tool
messages alike, is shown as the first 9 hex digits of its SHA-256 (`template_call_id`): the
same id maps the same way on every turn, so a call and its result stay paired and the
rendering stays a stable prefix.

`TemplateProfile.probe` finds out which kind a template is by rendering two tiny transcripts
with and without the feature and comparing the token ids.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from paste.parsing.mistral import MISTRAL_FORMATS

_CALL_SYNTAX = {
    "json": 'reply with only a JSON object {"name": <tool name>, "arguments": {<arguments>}}',
    "llama3_json": 'reply with only a JSON object {"name": <tool name>, "parameters": {...}}',
    "hermes": 'reply with <tool_call>{"name": <tool name>, "arguments": {...}}</tool_call>',
    "pythonic": "reply with only a list of calls like [tool_name(arg1=value1, arg2=value2)]",
    "mistral": 'reply with [TOOL_CALLS][{"name": <tool name>, "arguments": {...}}]',
    "mistral_args": "reply with [TOOL_CALLS]<tool name>[ARGS]{<arguments as JSON>}",
}
_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}\Z")

_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "probe_tool",
        "description": "probe",
        "parameters": {"type": "object", "properties": {}},
    },
}


ASSISTANT_VIEWS = ("raw", "template")


@dataclass(frozen=True)
class TemplateProfile:
    """What a chat template renders (see the module docstring)."""

    renders_tools: bool
    renders_tool_calls: bool

    @staticmethod
    def probe(engine: Any) -> TemplateProfile:
        """The profile of `engine`'s chat template, computed once per engine."""
        with _LOCK:
            cached = _CACHE.get(engine)
            if cached is None:
                cached = _CACHE[engine] = _probe(engine)
            return cached


_LOCK = threading.Lock()
_CACHE: weakref.WeakKeyDictionary[Any, TemplateProfile] = weakref.WeakKeyDictionary()


def _probe(engine: Any) -> TemplateProfile:
    user = [{"role": "user", "content": "hi"}]
    call = {"id": "probecall", "type": "function", "function": {"name": "probe_tool", "arguments": {}}}
    plain = {"role": "assistant", "content": ""}
    return TemplateProfile(
        renders_tools=_differs(engine, (user, None), (user, [_PROBE_TOOL])),
        renders_tool_calls=_differs(
            engine, (user + [plain], None), (user + [dict(plain, tool_calls=[call])], None)
        ),
    )


def _differs(engine: Any, a: tuple, b: tuple) -> bool:
    """True if the two renderings differ; a template that fails on the feature lacks it."""
    try:
        first = engine.chat_prompt(a[0], tools=a[1], add_generation_prompt=False)
        second = engine.chat_prompt(b[0], tools=b[1], add_generation_prompt=False)
    except Exception:  # noqa: BLE001 - any template error means "does not support it"
        return False
    return first != second


def tools_prompt(tools: list[dict], parser_format: str) -> str:
    """The system-message section describing `tools` for templates that cannot render them."""
    lines = [
        "# Tools",
        f"To call a tool, {_CALL_SYNTAX.get(parser_format, _CALL_SYNTAX['json'])}.",
        "The result comes back in a tool message. Answer without a tool call when done.",
        "Available tools (JSON schemas):",
    ]
    lines += [json.dumps(tool["function"], ensure_ascii=False) for tool in tools]
    return "\n".join(lines)


def render_view(
    messages: list[dict[str, Any]],
    raw_texts: dict[int, str],
    tools: list[dict],
    profile: TemplateProfile,
    parser_format: str,
    assistant_view: str = "raw",
) -> tuple[list[dict[str, Any]], list[dict] | None]:
    """(messages, tools) to pass to engine.chat_prompt for this transcript.

    `raw_texts` maps the index of each model-written assistant message to the model's raw
    output text; assistant_view is "raw" or "template" (module docstring). The input is not
    modified.
    """
    raw = assistant_view == "raw" or not profile.renders_tool_calls
    ids = parser_format in MISTRAL_FORMATS
    view: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            view.append(dict(message))
            if ids and isinstance(message.get("tool_call_id"), str):
                view[-1]["tool_call_id"] = template_call_id(message["tool_call_id"])
        elif raw:
            content = raw_texts.get(i, message.get("content") or "")
            view.append({"role": "assistant", "content": content})
        elif "tool_calls" in message:
            calls = [_call_with_object_arguments(c, ids) for c in message["tool_calls"]]
            view.append(dict(message, content=message.get("content") or "", tool_calls=calls))
        else:
            view.append(dict(message))
    if not tools or profile.renders_tools:
        return view, (tools or None)
    section = tools_prompt(tools, parser_format)
    if view and view[0]["role"] == "system":
        view[0] = dict(view[0], content=f"{view[0]['content']}\n\n{section}")
    else:
        view.insert(0, {"role": "system", "content": section})
    return view, None


def template_call_id(call_id: str) -> str:
    """The id a Mistral template is shown for `call_id` (module docstring)."""
    if _MISTRAL_ID.match(call_id):
        return call_id
    return hashlib.sha256(call_id.encode("utf-8")).hexdigest()[:9]


def _call_with_object_arguments(call: dict[str, Any], mistral_ids: bool) -> dict[str, Any]:
    function = dict(call["function"])
    if isinstance(function.get("arguments"), str):
        function["arguments"] = json.loads(function["arguments"])
    out = dict(call, function=function)
    if mistral_ids and isinstance(call.get("id"), str):
        out["id"] = template_call_id(call["id"])
    return out
