"""The Trace model: one agent session as a flat list of steps, whatever its source format.

A step is a user message, assistant text, or a tool step (the call, its output and status,
timings when the source has them). `ToolCall.kind` is the control-flow label of a call: the
tool name for function-calling tools and `bash:<head>` for shell tools whose one `command`
argument is split into a command head and its arguments (see `bash.command_head`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from paste.patterns.canonical import _canonical_call

Status = Literal["ok", "error"]
Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A concrete call: `name` and `arguments` are exactly what the model emitted."""

    name: str
    arguments: dict[str, Any]
    kind: str = ""
    call_id: str = ""

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", self.name)

    @property
    def canonical(self) -> str:
        return _canonical_call(self.name, self.arguments)


@dataclass
class Step:
    """One event of a session. `role == "tool"` steps carry `call`, `output` (None when the
    source has no outputs, e.g. BFCL) and `status`; other steps carry `text`."""

    role: Role
    text: str = ""
    call: ToolCall | None = None
    output: str | None = None
    status: Status = "ok"
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Trace:
    """One session. `env` is the initial environment state when the source records one
    (BFCL `initial_config`); `final_answer` is the agent's answer when it ends with one. `group`
    names the task a session solved: a value counts as a generic constant only when sessions of
    several groups use it (see PatternStore.min_groups). `tools` is the set of tool names the
    session was offered (the request's tool list: BFCL's involved classes, ToolBench's
    `function` list) when the source records it, None when it does not; prediction then only
    considers those tools. `params` maps offered tools to their required parameters when the
    request's schemas are recorded (unknowntools.py predicts calls of unknown tools with it).
    `docs` maps offered tools to their descriptions when recorded (textevidence.doc_scores
    ranks the tools the latest user message describes). `today` is the session's current date
    (ISO) when the source records one (the first ISO date of its system prompt: tau-bench's
    "The current time is 2024-05-15 15:00:00 EST"); it dates the user's dates written without
    a year."""

    session_id: str
    source: str
    steps: list[Step] = field(default_factory=list)
    tenant: str = "default"
    env: Any = None
    final_answer: str | None = None
    group: str = ""  # sessions of the same task (tau-bench trials) share a group
    tools: frozenset[str] | None = None  # tool names offered to the session, if recorded
    # required parameter names of each offered tool whose schema the source records
    params: dict[str, tuple[str, ...]] | None = None
    docs: dict[str, str] | None = None  # description of each offered tool that has one
    today: str | None = None  # the session's current date (ISO), if recorded

    def __post_init__(self) -> None:
        if not self.group:
            self.group = self.session_id

    @property
    def calls(self) -> list[ToolCall]:
        return [s.call for s in self.steps if s.call is not None]

    def fingerprint(self) -> str:
        """A hash of what the session did (its user messages and canonical calls, in order),
        whatever folder, file or id it was loaded from: the same session copied into two
        folders has one fingerprint. No value can be read back from it."""
        parts = [("u", s.text or "") if s.call is None else ("c", s.call.canonical)
                 for s in self.steps if s.role == "user" or s.call is not None]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@dataclass(frozen=True)
class LoadIssue:
    """A malformed record that a loader skipped, or data it could not produce (BFCL's tool
    outputs without bfcl-eval): where it is and what was wrong."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass
class LoadResult:
    """Traces loaded from one folder plus every record that was skipped (never silent)."""

    source: str
    traces: list[Trace] = field(default_factory=list)
    issues: list[LoadIssue] = field(default_factory=list)
