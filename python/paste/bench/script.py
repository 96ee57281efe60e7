"""ReplayScript: a recorded session as the teacher-forced turns of a live paste session.

A trace (paste.patterns.trace.Trace) is cut into runs, one per user message (the first run
starts with the first user message, or with "Please solve the task." when the trace has
none). Within a run every recorded tool step becomes one model turn: the assistant text that
preceded it (at most `max_text_chars` characters; braces, brackets and backticks replaced so
the text can never parse as a call), a newline, and the call in the "json" format
`{"name": ..., "arguments": ...}`. The run ends with a turn without a call: the last run's is
the trace's final answer (or the last assistant text, or "done"); earlier runs end with the
assistant text before the next user message (or "done").

Every turn is checked once, with the model's real tokenizer and the real parser: the decoded
forced tokens must parse to exactly the recorded call (a final turn: to no call, no error);
a text that fails the check is replaced by the fixed text "Calling <tool>." (or "done").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from paste.parsing import parse_tool_calls
from paste.patterns.trace import ToolCall, Trace

DEFAULT_USER = "Please solve the task."
_UNSAFE_CHARS = re.compile(r"[{}\[\]`<>]")


@dataclass(frozen=True)
class Turn:
    """One teacher-forced model turn: its text and the recorded call it carries (or None)."""

    text: str
    call: ToolCall | None = None
    output: str | None = None
    status: str = "ok"


@dataclass
class Run:
    user: str
    turns: list[Turn] = field(default_factory=list)


@dataclass
class ReplayScript:
    session_id: str
    source: str
    runs: list[Run]
    tools: frozenset[str] | None = None  # the tools the recorded session was offered, if known
    fingerprint: str = ""  # the recorded session's Trace.fingerprint
    params: dict[str, tuple[str, ...]] | None = None  # Trace.params: required parameters
    docs: dict[str, str] | None = None  # Trace.docs: the tools' recorded descriptions
    today: str | None = None  # Trace.today: the recorded session's current date
    env: Any = None  # Trace.env: the state the recorded session's tools acted on

    @property
    def calls(self) -> list[Turn]:
        """The turns with a call, in order (the recorded tool steps)."""
        return [t for r in self.runs for t in r.turns if t.call is not None]

    @property
    def max_turns(self) -> int:
        return max(len(r.turns) for r in self.runs)


def _short(text: str, max_chars: int) -> str:
    text = _UNSAFE_CHARS.sub("_", text.strip())
    return text[:max_chars].rstrip()


def call_json(call: ToolCall) -> str:
    return json.dumps({"name": call.name, "arguments": call.arguments})


def build_script(trace: Trace, max_text_chars: int = 240) -> ReplayScript:
    """The runs of `trace` (see the module docstring); texts are not yet checked."""
    runs: list[Run] = []
    pending: list[str] = []
    for step in trace.steps:
        if step.role == "user":
            if runs:
                runs[-1].turns.append(Turn(_short(" ".join(pending), max_text_chars) or "done"))
            runs.append(Run(step.text or DEFAULT_USER))
            pending = []
        elif step.call is not None:
            if not runs:
                runs.append(Run(DEFAULT_USER))
            prefix = _short(" ".join(pending), max_text_chars)
            text = f"{prefix}\n{call_json(step.call)}" if prefix else call_json(step.call)
            runs[-1].turns.append(Turn(text, step.call, step.output, step.status))
            pending = []
        elif step.text.strip():
            pending.append(step.text)
    if not runs:
        runs.append(Run(DEFAULT_USER))
    final = trace.final_answer or " ".join(pending)
    runs[-1].turns.append(Turn(_short(final, max_text_chars) or "done"))
    return ReplayScript(trace.session_id, trace.source, runs, trace.tools, trace.fingerprint(),
                        trace.params, trace.docs, trace.today, trace.env)


def _parses_as(text: str, call: ToolCall | None) -> bool:
    parsed = parse_tool_calls(text, format="json")
    if parsed.errors:
        return False
    got = [(c.name, c.arguments) for c in parsed.calls]
    return got == ([] if call is None else [(call.name, dict(call.arguments))])


def check_script(script: ReplayScript, tokenizer: Any) -> int:
    """Replace every turn whose decoded forced tokens do not parse as intended (module
    docstring); returns how many were replaced."""
    replaced = 0
    for run in script.runs:
        for i, turn in enumerate(run.turns):
            decoded = tokenizer.decode(tokenizer.encode(turn.text, add_special_tokens=False))
            if _parses_as(decoded, turn.call):
                continue
            replaced += 1
            if turn.call is None:
                run.turns[i] = Turn("done")
            else:
                text = f"Calling {turn.call.name}.\n{call_json(turn.call)}"
                run.turns[i] = Turn(text, turn.call, turn.output, turn.status)
    return replaced


class TeacherForcedTurns:
    """turn_params for open_session: the next scripted turn as forced tokens + end of turn.

    The run is the number of user messages so far, the turn the number of assistant messages
    after the last one; the token ids of every turn are encoded once. num_draft_tokens: the
    turns' speculative decoding (a forced turn accepts the drafts it continues with).
    """

    def __init__(self, script: ReplayScript, encode: Any, eos_token_id: int,
                 num_draft_tokens: int = 0) -> None:
        self._ids = [
            [tuple(encode(t.text)) + (eos_token_id,) for t in r.turns] for r in script.runs
        ]
        self._drafts = num_draft_tokens

    def __call__(self, messages: list[dict[str, Any]]) -> Any:
        from paste.engine.request import GenerationParams

        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        run = self._ids[len(users) - 1]
        turn = sum(m["role"] == "assistant" for m in messages[users[-1] :])
        return GenerationParams(forced_tokens=run[min(turn, len(run) - 1)],
                                num_draft_tokens=self._drafts)
