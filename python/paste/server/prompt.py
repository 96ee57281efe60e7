"""A TurnRequest's messages and tools as prompt token ids, through the model's chat template.

Rendering reuses paste.session.template: a template that cannot render `tools` gets them in
the system message with the call syntax of the parser format, and one that cannot render
assistant `tool_calls` gets each earlier call as the text the model would have written for it
in that format (`call_text`), so the model sees its own calls, and a conversation replayed by
a client has the same tokens the model produced (the prefix cache then reuses its KV).
tool_choice "required" / a named function adds a one-line instruction to the system message,
and `forced_call_prefix` is the start of a call the assistant's answer is made to begin with;
`arguments_grammar` constrains the rest to a call of one of the tools (the named one) with
arguments of its parameter schema; under "auto", `calls_grammar` makes every call the model
opens a whole call of an offered tool when a tool is marked `strict` (see docs/server.md).
"""

from __future__ import annotations

from typing import Any

from paste.engine.grammar import GrammarSpec
from paste.parsing.call_text import (
    arguments_spec,
    call_parts,
    call_text,
    calls_spec,
    mistral_args_calls,
)
from paste.server.errors import BadRequestError
from paste.server.turn import TurnRequest
from paste.session.template import TemplateProfile, render_view


def forced_call_prefix(turn: TurnRequest, parser_format: str) -> str:
    """The text the answer is made to start with under tool_choice: for "required" the
    format's call opening up to the tool's name (`<tool_call>\n{"name": "`, `[`), for a
    named function up to its arguments (`... "get_weather", "arguments": `,
    `[get_weather(`); "" for "auto" and "none". The model writes the rest (which tool, for
    "required", and the arguments), as `arguments_grammar` allows."""
    if not turn.forces_call:
        return ""
    head, between, _after = call_parts(parser_format)
    if turn.tool_choice.mode == "required":
        return head
    return head + str(turn.tool_choice.name) + between


def arguments_grammar(turn: TurnRequest, parser_format: str) -> GrammarSpec | None:
    """The grammar of what follows `forced_call_prefix`: for a named function its arguments
    as JSON of its parameter schema (pythonic: keyword arguments of it), then the rest of the
    call's text (hermes: `}\n</tool_call>`, pythonic: `)]`); for "required" any one tool's
    name, the text up to its arguments (`", "arguments": `, `(`), its arguments and the rest.
    None otherwise."""
    if not turn.forces_call:
        return None
    _head, between, suffix = call_parts(parser_format)
    tools = allowed_functions(turn)
    if turn.tool_choice.mode == "required":
        if parser_format == "mistral_args":  # the [ARGS] control token between name and args
            return mistral_args_calls(tools, None, more=False)
        return GrammarSpec(choices=tuple(
            arguments_spec(t, parser_format, suffix, prefix=t["name"] + between)
            for t in tools))
    tool = next((t for t in tools if t["name"] == turn.tool_choice.name), None)
    return None if tool is None else arguments_spec(tool, parser_format, suffix)


def calls_grammar(turn: TurnRequest, parser_format: str) -> GrammarSpec | None:
    """Under tool_choice "auto" with a tool marked `strict`, or with allowed_tools: every
    call the model opens is a whole call of an offered (allowed) tool, a strict one's with
    arguments of its schema (parsing.call_text.calls_spec). None otherwise."""
    if not turn.guards_calls:
        return None
    return calls_spec(allowed_functions(turn), turn.strict_tools, parser_format)


def allowed_functions(turn: TurnRequest) -> list[dict[str, Any]]:
    """The functions of `turn` the model may call (tool_choice allowed_tools: its subset)."""
    allowed = turn.tool_choice.allowed
    return [t["function"] for t in turn.tools
            if allowed is None or t["function"]["name"] in allowed]


def _choice_hint(turn: TurnRequest) -> str | None:
    allowed = turn.tool_choice.allowed
    names = ", ".join(allowed) if allowed is not None else ""
    if turn.tool_choice.mode == "required" and allowed is not None:
        return f"You must answer with a call of one of these tools: {names}."
    if allowed is not None:
        return f"You may call only these tools: {names}."
    if turn.tool_choice.mode == "required":
        return "You must answer with a call of one of the tools."
    if turn.tool_choice.mode == "function":
        return f"You must answer with a call of the tool {turn.tool_choice.name}."
    return None


def render_prompt(engine: Any, turn: TurnRequest, parser_format: str) -> list[int]:
    """Prompt token ids of `turn`; BadRequestError if the chat template rejects the messages.
    A raw prompt (TurnRequest.prompt_ids, legacy completions) is returned as it is."""
    if turn.prompt_ids is not None:
        return list(turn.prompt_ids)
    messages = [dict(m) for m in turn.messages]
    hint = _choice_hint(turn)
    if hint is not None:
        if messages[0]["role"] == "system":
            messages[0]["content"] = f"{messages[0]['content']}\n\n{hint}"
        else:
            messages.insert(0, {"role": "system", "content": hint})
    profile = TemplateProfile.probe(engine)
    raw_texts: dict[int, str] = {}
    if not profile.renders_tool_calls:
        for i, message in enumerate(messages):
            if message.get("tool_calls"):
                text = call_text(message["tool_calls"], parser_format)
                raw_texts[i] = f"{message['content']}\n{text}" if message["content"] else text
    tools = turn.tools if turn.tool_choice.mode != "none" else []
    # A client's assistant messages are OpenAI objects, not the model's raw text: a template
    # that renders tool_calls gets them as tool_calls ("template" view), one that cannot gets
    # the calls written in the parser's format (raw_texts).
    view, template_tools = render_view(messages, raw_texts, tools, profile, parser_format,
                                       assistant_view="template")
    extra: dict[str, Any] = {"template_kwargs": turn.template_kwargs} if turn.template_kwargs \
        else {}
    if not turn.add_generation_prompt:
        extra["add_generation_prompt"] = False
    if turn.continue_final_message:
        extra["continue_final_message"] = True
    try:
        return engine.chat_prompt(view, tools=template_tools, **extra)
    except Exception as exc:  # noqa: BLE001 - jinja raises its own types for bad conversations
        raise BadRequestError(
            f"the model's chat template rejected the messages: {exc}", param="messages"
        ) from None
