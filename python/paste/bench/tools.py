"""Replay tools: one ToolRegistry per replayed session, serving the session's recorded outputs.

Every recorded tool name becomes a registered tool whose effect class comes from
paste.bench.classify (per tool for function-calling tools; the one `bash` tool is read_only as
a tool but classifies each call by its command (ToolSpec.effect_for), so a side-effecting
command (`sed -i`, `rm`, a write) is refused by admission and by the executor's gate alike and,
run authoritatively, makes the session's staged results stale; its SpeculationPolicy admits
only read-only commands too). A call returns, after its seeded
latency (paste.bench.latency; 0 in oracle mode), the recorded output of the first recorded
occurrence of the same canonical call at or after the session's current position (the number
of tool results committed so far), so a call asked again later gets its later output and a
speculative run gets exactly what the authoritative call would get. A call never recorded
there (a mis-speculation) returns NO_RECORD. A step recorded as failed raises
RecordedToolError with its output, so it is a failure in the replay too.

Read-only tools get a `sandbox` that is the same replay function marked speculative: the
executor runs a tool's sandbox for speculative jobs, so the log tells speculative runs apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from paste.bench.classify import effect_of
from paste.bench.latency import LatencyModel
from paste.bench.script import ReplayScript
from paste.errors import PasteError
from paste.parsing import canonical_call
from paste.patterns.bash import bash_kind
from paste.tools import SpeculationPolicy, ToolRegistry
from paste.tools.spec import EffectClass, ToolSpec

NO_RECORD = "error: no recorded output for this call"
NO_OUTPUT = "(the trace recorded no output for this call)"


class RecordedToolError(PasteError, RuntimeError):
    """The recorded step failed; the message is its recorded output."""


@dataclass(frozen=True)
class ToolRun:
    """One execution of a replay tool (the log used by reports and tests)."""

    name: str
    canonical: str
    effect: str
    speculative: bool
    started_at: float
    finished_at: float


class _PassThrough:
    """Argument validator of replay tools: recorded arguments are taken as they are."""

    def validate(self, arguments: Any) -> dict[str, Any]:
        return dict(arguments)


class ReplayTools:
    """The tools of one replayed session (see the module docstring)."""

    def __init__(
        self,
        script: ReplayScript,
        latency: LatencyModel | None,
        tool_names: Sequence[str] = (),
        timeout_s: float = 600.0,
    ) -> None:
        """latency None: every call is instant (oracle mode). tool_names: more tools to offer
        (the other tools of the source), so a predicted call of a tool this session never
        used is a real mis-speculation instead of an unknown tool."""
        self.script, self.latency = script, latency
        self.position: Callable[[], int] = lambda: 0  # set to the session's tool-result count
        self.runs: list[ToolRun] = []
        self._lock = threading.Lock()
        self._recorded = [
            (canonical_call(t.call.name, t.call.arguments), t)
            for t in script.calls
            if t.call is not None
        ]
        self.registry = ToolRegistry()
        names: dict[str, list[dict]] = {}
        for _, turn in self._recorded:
            assert turn.call is not None
            names.setdefault(turn.call.name, []).append(dict(turn.call.arguments))
        for name in tool_names:
            names.setdefault(name, [])
        for name, calls in sorted(names.items()):
            self.registry.add_spec(self._spec(name, calls, timeout_s))

    def _spec(self, name: str, calls: list[dict], timeout_s: float) -> ToolSpec:
        is_bash = name == "bash"
        effect = "read_only" if is_bash else effect_of(name, {})  # by name, see classify
        read_only = effect != "side_effect"
        props = sorted({k for a in calls for k in a})
        run = self._runner(name)
        return ToolSpec(
            name=name,
            description=f"replayed tool {name}",
            parameters={
                "type": "object",
                "properties": {k: {} for k in props},
                "additionalProperties": True,
            },
            validator=_PassThrough(),
            invoke=lambda kwargs: run(kwargs, False),
            is_async=False,
            effect=EffectClass(effect),
            timeout_s=timeout_s,
            max_concurrency=64,
            sandbox=(lambda **kwargs: run(kwargs, True)) if read_only else None,
            speculation=SpeculationPolicy(lambda a: effect_of("bash", dict(a)) == "read_only")
            if is_bash
            else None,
            effect_for=(lambda a: EffectClass(effect_of("bash", dict(a)))) if is_bash else None,
        )

    def _runner(self, name: str) -> Callable[[dict, bool], str]:
        def run(arguments: dict, speculative: bool) -> str:
            canonical = canonical_call(name, arguments)
            kind = bash_kind(str(arguments.get("command", ""))) if name == "bash" else name
            started = time.monotonic()
            if self.latency is not None:
                time.sleep(self.latency.draw(self.script.session_id, name, kind, canonical))
            turn = self._lookup(canonical)
            with self._lock:
                self.runs.append(
                    ToolRun(
                        name,
                        canonical,
                        effect_of(name, arguments),
                        speculative,
                        started,
                        time.monotonic(),
                    )
                )
            if turn is None:
                return NO_RECORD
            output = turn.output if turn.output is not None else NO_OUTPUT
            if turn.status == "error":
                raise RecordedToolError(output)
            return output

        return run

    def _lookup(self, canonical: str) -> Any:
        position = self.position()
        for i in range(position, len(self._recorded)):
            if self._recorded[i][0] == canonical:
                return self._recorded[i][1]
        return None
