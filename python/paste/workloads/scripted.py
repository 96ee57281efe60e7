"""ScriptedAgent: an agent program as the teacher-forced turns of a live paste session.

An agent program is a generator: it yields a `Call` (a short thought + the call), receives
the REAL content of that call's tool message (a result or an error text), and finally returns
its answer text. ScriptedAgent is the session's `turn_params`: before each model turn it feeds
the program every tool message committed since the last turn, and forces the turn's tokens:

    <thought>\n{"name": ..., "arguments": ...}<eos>     (a call, the "json" parser format)
    <answer><eos>                                        (the final answer: no call)

Thoughts are written by each workload's thought builders (research_thoughts, coding_thoughts,
science_thoughts) from the tool output the program just received, as a real agent reasons
before its next call. Thoughts and answers have braces, brackets, `<>` and backticks replaced by `_` so they can
never parse as a call. One call per turn, so the calls run in the program's order. The program
decides from real outputs, so it is deterministic for deterministic tools, and transcripts are
the same in every mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

_UNSAFE = re.compile(r"[{}\[\]`<>]")
MAX_THOUGHT_CHARS = 700  # the builders aim at 200-600 (docs/workloads.md)


@dataclass(frozen=True)
class Call:
    thought: str
    name: str
    arguments: dict[str, Any]


AgentProgram = Generator[Call, str, str]


def safe_text(text: str, max_chars: int = 400) -> str:
    return _UNSAFE.sub("_", " ".join(text.split()))[:max_chars].strip() or "done"


def call_text(call: Call) -> str:
    payload = json.dumps({"name": call.name, "arguments": call.arguments})
    return f"{safe_text(call.thought, MAX_THOUGHT_CHARS)}\n{payload}"


def clip(text: str, max_chars: int) -> str:
    """text on one line, cut at a word boundary to at most max_chars (with "..." if cut)."""
    flat = " ".join(str(text).split())
    if len(flat) <= max_chars:
        return flat
    cut = flat[: max_chars - 3]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:.") + "..."


def enumerate_words(items: list[str], limit: int = 6) -> str:
    """["a", "b", "c"] -> "a, b and c"; beyond `limit` items: "a, b, ... and 3 more"."""
    items = [str(i) for i in items]
    if len(items) > limit:
        items = items[:limit] + [f"{len(items) - limit} more"]
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, word: str) -> str:
    """plural(1, "result") -> "1 result"; plural(2, "result") -> "2 results"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def num(x: float) -> str:
    """A derived number for a thought: 3 significant digits."""
    return f"{x:.3g}"


class ScriptedAgent:
    """turn_params of one session; `calls` and `answer` record what the program did."""

    def __init__(self, program: AgentProgram, encode: Callable[[str], list[int]],
                 eos_token_id: int) -> None:
        self._program, self._encode, self._eos = program, encode, eos_token_id
        self._seen = 0
        self._text: str | None = None
        self.calls: list[Call] = []
        self.answer: str | None = None

    def next_text(self, messages: list[dict[str, Any]]) -> str:
        """The text of the next turn, after feeding the program the new tool messages."""
        tool_contents = [str(m.get("content", "")) for m in messages if m["role"] == "tool"]
        new, self._seen = tool_contents[self._seen :], len(tool_contents)
        if self._text is not None and not new:
            return self._text  # asked again for the same turn
        try:
            if not self.calls:
                call = next(self._program)
            else:
                call = self._program.send(new[-1] if new else "")
        except StopIteration as stop:
            self.answer = safe_text(str(stop.value or "done"))
            self._text = self.answer
            return self._text
        self.calls.append(call)
        self._text = call_text(call)
        return self._text

    def __call__(self, messages: list[dict[str, Any]]) -> Any:
        from paste.engine.request import GenerationParams

        ids = tuple(self._encode(self.next_text(messages))) + (self._eos,)
        return GenerationParams(forced_tokens=ids)


def parse_json(content: str) -> Any:
    """A tool message's JSON value, or None if it is not JSON (an error text)."""
    try:
        return json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return None
