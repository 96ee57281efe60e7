"""Continuing a session from messages committed earlier (server/session_journal.py keeps them
across server restarts; Session.restore applies them).

A transcript cut off by a crash is made well-formed before the model sees it again: each call
of the last assistant message that no `tool` message answers gets one (INTERRUPTED_RESULT),
since its result never reached the transcript. The call may or may not have run; the model is
told so. Call ids go on from the highest `call_N` seen, so they stay unique in the session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from paste.errors import InvalidArgumentError

INTERRUPTED_RESULT = ("error: the server stopped before this call's result was committed; "
                      "the call may or may not have run")
INTERRUPTED_KIND = "interrupted"

_CALL_ID = re.compile(r"^call_(\d+)$")
_ROLES = ("system", "user", "assistant", "tool")


def check_messages(messages: Any) -> list[dict[str, Any]]:
    """`messages` as a list of message dicts; InvalidArgumentError naming the first bad one."""
    if not isinstance(messages, list):
        raise InvalidArgumentError("messages must be a list of message objects")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise InvalidArgumentError(
                f"message {i} must be an object whose role is one of {', '.join(_ROLES)}")
        if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise InvalidArgumentError(f"message {i} (a tool message) has no tool_call_id")
        calls = message.get("tool_calls")
        if calls is not None and not (isinstance(calls, list) and all(_is_call(c) for c in calls)):
            raise InvalidArgumentError(
                f"message {i} has tool_calls that are not [{{id, function: {{name, "
                "arguments}}, ...]")
    return messages


def _is_call(call: Any) -> bool:
    """Whether `call` is an OpenAI tool call: {"id", "function": {"name", "arguments"}}."""
    if not isinstance(call, dict) or not isinstance(call.get("id"), str):
        return False
    function = call.get("function")
    return (isinstance(function, dict) and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments"), str))


def highest_call_number(messages: list[dict[str, Any]]) -> int:
    """The largest N of the transcript's `call_N` ids (0 without any)."""
    ids = [m.get("tool_call_id") for m in messages if m["role"] == "tool"]
    ids += [c.get("id") for m in messages for c in m.get("tool_calls") or ()]
    numbers = [int(match.group(1)) for i in ids
               if isinstance(i, str) and (match := _CALL_ID.match(i))]
    return max(numbers, default=0)


def unanswered_calls(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(call id, tool name) of the last assistant message's calls that no later `tool`
    message answers, in call order."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    if last < 0:
        return []
    answered = {m.get("tool_call_id") for m in messages[last + 1:] if m["role"] == "tool"}
    return [(c["id"], c["function"]["name"]) for c in messages[last].get("tool_calls") or ()
            if c["id"] not in answered]


def interrupted_message(call_id: str, name: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "name": name,
            "content": INTERRUPTED_RESULT}


def tool_history(messages: list[dict[str, Any]],
                 failed: set[str]) -> Iterator[tuple[str, Any]]:
    """The transcript as a speculation history: ("user", text) and ("result", (name,
    arguments, content, ok)) in order (`failed`: the ids of calls that failed)."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    for m in messages:
        if m["role"] == "user" and isinstance(m.get("content"), str):
            yield "user", m["content"]
        for c in m.get("tool_calls") or ():
            try:
                arguments = json.loads(c["function"]["arguments"])
            except (TypeError, ValueError, KeyError):
                continue
            calls[c["id"]] = (c["function"]["name"],
                              arguments if isinstance(arguments, dict) else {})
        call_id = m.get("tool_call_id")
        if m["role"] == "tool" and call_id in calls:
            name, arguments = calls[call_id]
            content = m.get("content") if isinstance(m.get("content"), str) else ""
            yield "result", (name, arguments, content, call_id not in failed)
