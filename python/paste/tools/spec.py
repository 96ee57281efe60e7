"""What the engine knows about one tool: ToolSpec, its effect class and speculation policy.

A ToolSpec is immutable after registration and shared by the registry, the executor and the
speculation layer. The effect class is the tool author's promise about side effects; it is the
first gate of invariant 2 (no speculative side effects): only `pure` and `read_only` tools, or
tools that supply a sandbox or a transaction (paste.tools.transaction: effects staged privately,
committed only on a hit), may ever run speculatively, and then only for arguments their
SpeculationPolicy allows.

One tool may also mix safe and unsafe calls (a `bash` tool runs `cat` and `rm` alike): its
`effect_for(arguments)` classifies each call, and every decision about one call (the
speculative gates, the freshness epoch) uses `call_effect(arguments)`, never `effect` alone.
`cpu_bound` marks a tool whose calls keep a core busy (tests, numeric scripts); speculation
admits such calls only while a CPU slot is free (paste.speculation.budget).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from paste.tools.results import ToolResult
    from paste.tools.transaction import Transaction


class EffectClass(str, enum.Enum):
    """How a tool affects the world; ordered from safest to least safe.

    pure: output depends only on arguments, nothing is read or written outside.
    read_only: reads external state (files, web) but changes nothing.
    idempotent: changes state, but repeating the same call changes nothing more.
    side_effect: anything else; the default, because it is the safe assumption.
    """

    PURE = "pure"
    READ_ONLY = "read_only"
    IDEMPOTENT = "idempotent"
    SIDE_EFFECT = "side_effect"

    @property
    def is_speculable(self) -> bool:
        """True if the class alone allows a speculative run (no sandbox needed)."""
        return self in (EffectClass.PURE, EffectClass.READ_ONLY)


Isolation = Literal["thread", "process", "mcp"]
"""Where a call runs: `thread` (sync: thread pool; async: the executor's event loop),
`process` (a fresh subprocess per call, killable), `mcp` (the registry's MCP session)."""


class ArgumentValidator(Protocol):
    """Checks and converts a call's arguments; shared by every call of one tool (thread-safe)."""

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Return the arguments to invoke the tool with, or raise ToolArgumentsError."""
        ...


EffectClassifier = Callable[[Mapping[str, Any]], "EffectClass | str"]
"""effect_for(arguments) -> the effect class of this one call (an EffectClass or its value)."""

FreshnessCheck = Callable[[Mapping[str, Any], "ToolResult"], bool]
"""freshness(arguments, previous_result) -> True if previous_result may still be reused."""

Sandbox = Callable[..., Any]
"""A stand-in run for speculative calls: same keyword arguments as the tool, same result as the
real tool would give, and no externally visible effects (e.g. it works on a scratch copy)."""


@dataclass(frozen=True)
class SpeculationPolicy:
    """Per-tool rule deciding which predicted calls may run speculatively.

    `allowed(arguments) -> bool` sees the validated arguments of a predicted call and returns
    True only if contacting its destination early is acceptable (e.g. an allow-list of hosts or
    paths). The request itself leaks intent, so a destination outside the policy is never
    contacted speculatively. `allowed=None` allows every destination.
    """

    allowed: Callable[[Mapping[str, Any]], bool] | None = None

    def allows(self, arguments: Mapping[str, Any]) -> bool:
        """Ask the policy; a policy that raises counts as a refusal."""
        if self.allowed is None:
            return True
        try:
            return bool(self.allowed(arguments))
        except Exception:
            return False


@dataclass(frozen=True)
class ToolSpec:
    """One registered tool: how to describe it to the model, validate its calls and run them.

    `invoke(arguments)` runs the tool with already-validated arguments; it returns the value (sync
    tools) or an awaitable (when `is_async`). For process isolation `target` is the picklable
    callable that the child process imports and calls with the same keyword arguments.

    `effect` is the tool's class as a whole (what tool-level filters see); with `effect_for`
    each call is classified on its own by `call_effect`. `cpu_bound` calls compete for the
    machine's cores (speculation's cpu slots).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    validator: ArgumentValidator
    invoke: Callable[[dict[str, Any]], Any | Awaitable[Any]]
    is_async: bool
    effect: EffectClass = EffectClass.SIDE_EFFECT
    timeout_s: float = 30.0
    max_concurrency: int = 8
    isolation: Isolation = "thread"
    target: Callable[..., Any] | None = None
    freshness: FreshnessCheck | None = None
    sandbox: Sandbox | None = None
    speculation: SpeculationPolicy | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    effect_for: EffectClassifier | None = None
    cpu_bound: bool = False
    transaction: Transaction | None = None

    def openai_tool(self) -> dict[str, Any]:
        """The OpenAI function-tool schema of this tool (a fresh dict each call)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": _deep_copy_json(self.parameters),
            },
        }

    def call_effect(self, arguments: Mapping[str, Any]) -> EffectClass:
        """The effect class of the call with these arguments: effect_for(arguments) when the
        tool classifies its calls, else `effect`. A classifier that raises or answers something
        that is not an effect class counts as side_effect (the safe assumption)."""
        if self.effect_for is None:
            return EffectClass(self.effect)
        try:
            return EffectClass(self.effect_for(arguments))
        except Exception:
            return EffectClass.SIDE_EFFECT

    def runs_transaction(self, arguments: Mapping[str, Any]) -> bool:
        """True if a speculative run of this call must be a transaction (paste.tools.transaction):
        the call is not pure/read_only and the tool supplies one."""
        return self.transaction is not None and not self.call_effect(arguments).is_speculable

    def may_speculate(self, arguments: Mapping[str, Any]) -> bool:
        """Invariant 2 gate: the call's effect class (or a sandbox or transaction) and the
        speculation policy both agree."""
        speculable = self.call_effect(arguments).is_speculable
        if not (speculable or self.sandbox is not None or self.transaction is not None):
            return False
        return self.speculation is None or self.speculation.allows(arguments)

    def is_fresh(self, arguments: Mapping[str, Any], previous: ToolResult) -> bool:
        """True if `previous` (a result of this call) may be reused; no check means fresh.

        A freshness check that raises counts as stale.
        """
        if self.freshness is None:
            return True
        try:
            return bool(self.freshness(arguments, previous))
        except Exception:
            return False


def _deep_copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy_json(v) for v in value]
    return value
