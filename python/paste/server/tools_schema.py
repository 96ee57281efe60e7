"""Function tools and tool_choice of a request, validated and normalised.

Chat Completions nests a tool as {"type": "function", "function": {"name", "description",
"parameters", "strict"}}; the Responses API flattens it to {"type": "function", "name", ...}.
Both become the nested form, which is what chat templates and paste.session expect. A tool
must have a name of 1-64 characters [a-zA-Z0-9_-] and, if given, a `parameters` JSON-schema
object whose "type" (if any) is "object". tool_choice is normalised to ToolChoice.

OpenAI's `allowed_tools` choice keeps every tool in the prompt (so a conversation's prompt
stays a cached prefix while the tools it may call change) and lets the model call only a
subset, under mode "auto" or "required": chat nests it ({"type": "allowed_tools",
"allowed_tools": {"mode", "tools": [{"type": "function", "function": {"name"}}]}}), the
Responses API flattens it ({"type": "allowed_tools", "mode", "tools": [{"type": "function",
"name"}]}). ToolChoice.allowed holds the subset's names (prompt.py constrains the calls).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from paste.server.errors import BadRequestError

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolChoice:
    """mode: "auto" | "none" | "required" | "function" (then `name` is the function);
    `allowed`: under "auto" or "required", the only tools the model may call (allowed_tools;
    None: any of them)."""

    mode: str = "auto"
    name: str | None = None
    allowed: tuple[str, ...] | None = None

    def echo(self) -> Any:
        """The choice as the Responses API echoes it (the flat form)."""
        if self.allowed is not None:
            return {"type": "allowed_tools", "mode": self.mode,
                    "tools": [{"type": "function", "name": n} for n in self.allowed]}
        return self.mode if self.mode != "function" else {"type": "function",
                                                           "name": self.name}


def _invalid(param: str, message: str) -> BadRequestError:
    return BadRequestError(message, param=param, code="invalid_tool_schema")


def _function(fn: Any, param: str) -> dict[str, Any]:
    if not isinstance(fn, dict):
        raise _invalid(param, f"'{param}' must be an object")
    name = fn.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _invalid(
            f"{param}.name",
            f"'{param}.name' must be 1-64 characters of a-z, A-Z, 0-9, '_' or '-'",
        )
    out: dict[str, Any] = {"name": name}
    description = fn.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise _invalid(f"{param}.description", f"'{param}.description' must be a string")
        out["description"] = description
    parameters = fn.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            raise _invalid(
                f"{param}.parameters",
                f"'{param}.parameters' must be a JSON schema object with type 'object'",
            )
        out["parameters"] = parameters
    else:
        out["parameters"] = {"type": "object", "properties": {}}
    return out


def parse_tools(value: Any, flat: bool) -> list[dict[str, Any]]:
    """The request's `tools` as nested OpenAI function tools (empty list for none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid("tools", "'tools' must be an array")
    tools, names = [], set()
    for i, tool in enumerate(value):
        param = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise _invalid(f"{param}.type", f"'{param}.type' must be 'function' (the only "
                           "tool type this server runs)")  # fmt: skip
        fn = _function(
            tool if flat else tool.get("function"), param if flat else f"{param}.function"
        )
        if fn["name"] in names:
            raise _invalid(param, f"duplicate tool name {fn['name']!r}")
        names.add(fn["name"])
        tools.append({"type": "function", "function": fn})
    return tools


def strict_tool_names(value: Any, flat: bool) -> frozenset[str]:
    """The names of the tools marked `strict: true` (their calls are constrained to their
    schema, server/prompt.py calls_grammar); call after parse_tools. A `strict` that is not a
    boolean is a 400."""
    names = set()
    for i, tool in enumerate(value or []):
        fn = tool if flat else tool.get("function")
        strict = fn.get("strict")
        if strict is not None and not isinstance(strict, bool):
            where = f"tools[{i}].strict" if flat else f"tools[{i}].function.strict"
            raise _invalid(where, f"'{where}' must be a boolean")
        if strict:
            names.add(fn["name"])
    return frozenset(names)


def parse_tool_choice(value: Any, tools: list[dict[str, Any]], flat: bool) -> ToolChoice:
    """`tool_choice`: "auto" (default), "none", "required" or a named function (nested
    {"type": "function", "function": {"name"}} for chat, flat {"type", "name"} for responses)."""
    if value is None:
        return ToolChoice("auto" if tools else "none")
    if value in ("auto", "none", "required"):
        if value == "required" and not tools:
            raise BadRequestError("tool_choice 'required' needs tools", param="tool_choice")
        return ToolChoice(value)
    if isinstance(value, dict) and value.get("type") == "function":
        fn = value if flat else value.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        known = {t["function"]["name"] for t in tools}
        if name not in known:
            raise BadRequestError(
                f"tool_choice names function {name!r}, which is not in 'tools'",
                param="tool_choice",
            )
        return ToolChoice("function", name)
    if isinstance(value, dict) and value.get("type") == "allowed_tools":
        return _allowed_tools(value if flat else value.get("allowed_tools"), tools, flat)
    raise BadRequestError(
        "'tool_choice' must be 'auto', 'none', 'required', a function or allowed_tools",
        param="tool_choice")


def _allowed_tools(spec: Any, tools: list[dict[str, Any]], flat: bool) -> ToolChoice:
    """An allowed_tools choice (see the module docstring); a 400 naming tool_choice for a
    malformed one or a tool that is not in `tools`."""
    mode = spec.get("mode") if isinstance(spec, dict) else None
    listed = spec.get("tools") if isinstance(spec, dict) else None
    if mode not in ("auto", "required") or not isinstance(listed, list) or not listed:
        raise BadRequestError("allowed_tools needs 'mode' 'auto' or 'required' and a non-empty "
                              "'tools' array", param="tool_choice")
    known = {t["function"]["name"] for t in tools}
    names: list[str] = []
    for entry in listed:
        fn = entry if flat or not isinstance(entry, dict) else entry.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if (not isinstance(entry, dict) or entry.get("type") != "function"
                or not isinstance(name, str) or name not in known):
            raise BadRequestError(f"allowed_tools lists {entry!r}, which is not a function of "
                                  "'tools'", param="tool_choice")
        if name not in names:
            names.append(name)
    return ToolChoice(mode, allowed=tuple(names))
