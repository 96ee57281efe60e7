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

Transactions (paste.tools.transaction; `transactions`): `worktree` gives the `bash` tool one for
its side-effecting commands that stay in the working tree (classify.stays_in_worktree: no
network, not the final submission), modelling a harness that runs a speculative command on a
copy-on-write copy of the tree and copies its changes back on a hit; `all` also gives one to
every side-effecting function-calling tool, which is only realistic where the backend's state
can be forked (BFCL's in-process API classes, not tau-bench's or ToolBench's remote services);
`none` gives none. A transaction's private run is the replay function marked speculative; its
commit takes COMMIT_S (applying the staged changes) and is logged as a non-speculative run with
`commit=True`, so the log's committed side effects compare with a serial run's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from paste.bench.classify import bash_command, effect_of, stays_in_worktree
from paste.bench.latency import LatencyModel
from paste.bench.script import ReplayScript
from paste.errors import InvalidArgumentError, PasteError
from paste.parsing import canonical_call
from paste.speculation.latency import latency_kind
from paste.tools import SpeculationPolicy, ToolRegistry
from paste.tools.spec import EffectClass, ToolSpec
from paste.tools.transaction import Staged

NO_RECORD = "error: no recorded output for this call"
NO_OUTPUT = "(the trace recorded no output for this call)"
TRANSACTIONS = ("none", "worktree", "all")
COMMIT_S = 0.01  # modelled time to apply a transaction's staged changes on a hit


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
    commit: bool = False  # a transaction's staged effects made real (a hit)


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
        transactions: str = "none",
    ) -> None:
        """latency None: every call is instant (oracle mode). tool_names: more tools to offer
        (the other tools of the source), so a predicted call of a tool this session never
        used is a real mis-speculation instead of an unknown tool. transactions: which
        side-effecting calls may run speculatively as transactions (module docstring)."""
        check_transactions(transactions)
        self.script, self.latency = script, latency
        self.transactions = transactions
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
        if is_bash:
            worktree = self.transactions != "none"
            policy = SpeculationPolicy(lambda a: _bash_speculable(dict(a), worktree))
            transaction = self._transaction(name, run) if worktree else None
        else:
            policy = None
            fc = not read_only and self.transactions == "all"
            transaction = self._transaction(name, run) if fc else None
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {k: {} for k in props},
            "additionalProperties": True,
        }
        required = (self.script.params or {}).get(name)
        if required is not None:  # the recorded request's schema said which
            schema["required"] = list(required)
            schema["properties"].update({k: {} for k in required if k not in props})
        return ToolSpec(
            name=name,
            description=(self.script.docs or {}).get(name) or f"replayed tool {name}",
            parameters=schema,
            validator=_PassThrough(),
            invoke=lambda kwargs: run(kwargs, False),
            is_async=False,
            effect=EffectClass(effect),
            timeout_s=timeout_s,
            max_concurrency=64,
            sandbox=(lambda **kwargs: run(kwargs, True)) if read_only else None,
            speculation=policy,
            effect_for=(lambda a: EffectClass(effect_of("bash", dict(a)))) if is_bash else None,
            transaction=transaction,
        )

    def _transaction(self, name: str, run: Callable[[dict, bool], str]) -> Callable[..., Staged]:
        def transaction(**kwargs: Any) -> Staged:
            value = run(kwargs, True)  # the private run (a recorded failure raises here)
            return Staged(value, lambda: self._commit(name, kwargs))

        return transaction

    def _commit(self, name: str, arguments: dict) -> None:
        started = time.monotonic()
        if self.latency is not None:
            time.sleep(COMMIT_S)
        with self._lock:
            self.runs.append(ToolRun(name, canonical_call(name, arguments),
                                     effect_of(name, arguments), False, started,
                                     time.monotonic(), commit=True))

    def _runner(self, name: str) -> Callable[[dict, bool], str]:
        def run(arguments: dict, speculative: bool) -> str:
            canonical = canonical_call(name, arguments)
            kind = latency_kind(name, arguments)
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


def _bash_speculable(arguments: dict, worktree: bool) -> bool:
    """The replay bash tool's speculation policy: read-only commands; with worktree
    transactions also the side-effecting ones that stay in the working tree."""
    if effect_of("bash", arguments) == "read_only":
        return True
    return worktree and stays_in_worktree(bash_command(arguments))


def check_transactions(value: str, name: str = "transactions") -> None:
    """InvalidArgumentError unless value is one of TRANSACTIONS (`name` says which option)."""
    if value not in TRANSACTIONS:
        raise InvalidArgumentError(
            f"{name} must be one of {', '.join(TRANSACTIONS)}, got {value!r}")
