"""How a predicted call appears in the model's token stream, per tool-call format.

The engine's trie matcher (engine/call_watch.py) compares the tokens a model decodes with the
tokens of each staged speculative call, starting where the call starts: after the start tag in
tag mode (hermes: the `\\n` Qwen's template writes after `<tool_call>`), at the `{` in json
mode. So a candidate is the call rendered the way the format's chat template writes it: JSON
with `", "` and `": "` separators, non-ASCII kept, the arguments in the order given.

    scan_for_format("hermes")  -> CallScan("tag", "<tool_call>", "</tool_call>")
    scan_for_format("json")    -> any top-level `{` (or a ```json fence) opens a call, as the
                                  json parser reads one after prose (parsing/json_format.py)
    render_candidate("hermes", "f", {"q": 1})  -> '\\n{"name": "f", "arguments": {"q": 1}}'

Formats without a scanner mode (pythonic) return None from both: no trie matching, the parser
alone resolves their calls. A rendering that differs from what the model writes costs only the
early promotion (and, on REFUTED, the queued job): the authoritative call is always the
parser's, matched by canonical form.
"""

from __future__ import annotations

import json
from typing import Any

from paste.engine.call_events import CallScan

_SCANS = {
    "hermes": CallScan("tag", start_tag="<tool_call>", end_tag="</tool_call>"),
    "json": CallScan("json", json_start_anywhere=True, code_fences=True),
    "llama3_json": CallScan("json", json_start_anywhere=True),
}
_ARGUMENTS_KEY = {"hermes": "arguments", "json": "arguments", "llama3_json": "parameters"}
_PREFIX = {"hermes": "\n"}


def scan_for_format(fmt: str) -> CallScan | None:
    """The scanner spec of a parser format, or None if the engine cannot scan it."""
    return _SCANS.get(fmt)


def render_candidate(fmt: str, name: str, arguments: dict[str, Any]) -> str | None:
    """The call's text from where the matcher starts (module docstring), or None."""
    if fmt not in _SCANS:
        return None
    body = json.dumps({"name": name, _ARGUMENTS_KEY[fmt]: arguments}, ensure_ascii=False)
    return _PREFIX.get(fmt, "") + body
