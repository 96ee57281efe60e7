"""ScriptPredictor: the ceiling of speculation, a predictor that knows the replayed session.

Mode `paste-perfect` replays a trace with this predictor in place of the mined one: asked in a
session state that has seen n calls, it predicts exactly the script's (n+1)-th recorded call,
with probability 1, and nothing after the last one. Everything else is paste's own (admission,
the waste bound, staging, transactions, the effect classes, the timing of each launch), so the
mode measures how much of the serial->oracle gap speculation could capture with perfect
prediction: what the engine's mechanics and a workload's timing allow, apart from how well the
calls are predicted. It is a benchmark instrument, never a predictor a server could use.

Asked ahead of a result (a state with pending calls, SessionState.add_pending: lookahead), it
knows no more than the session could: it predicts nothing when the next call comes after a
user message the session has not seen, or when one of its argument values occurs in a
pending call's recorded output but nowhere the session has seen (the user messages so far,
the earlier outputs and arguments).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from paste.bench.script import ReplayScript
from paste.parsing import canonical_call
from paste.patterns.latency import expected_latency
from paste.patterns.predictor import Prediction
from paste.patterns.state import SessionState


class ScriptPredictor:
    """Predicts the script's next recorded call (module docstring)."""

    def __init__(self, script: ReplayScript) -> None:
        self._calls = []
        self._run: list[int] = []  # the run (user message) of each call
        self._outputs: list[str] = []
        # What the session has seen (user messages, arguments, outputs, in order); call i is
        # emitted having seen the first _seen_before[i] of them.
        self._seen: list[str] = []
        self._seen_before: list[int] = []
        for r, run in enumerate(script.runs):
            self._seen.append(run.user)
            for turn in run.turns:
                if turn.call is None:
                    continue
                self._seen_before.append(len(self._seen))
                self._calls.append(turn.call)
                self._run.append(r)
                self._outputs.append(turn.output or "")
                self._seen.append(json.dumps(turn.call.arguments, ensure_ascii=False))
                self._seen.append(turn.output or "")

    def predict(self, state: SessionState, k: int = 5,
                allow: Callable[[str], bool] | None = None,
                tool: str | None = None) -> list[Prediction]:
        """[the next recorded call] (p = 1), or [] when k <= 0, the script has no more calls,
        or `allow` refuses its tool, or the call is known to be of another `tool`."""
        n = len(state.calls)
        if k <= 0 or n >= len(self._calls):
            return []
        call = self._calls[n]
        if (allow is not None and not allow(call.name)) or tool not in (None, call.name):
            return []
        if state.pending and not self._knowable(n, state.pending):
            return []
        args = dict(call.arguments)
        return [Prediction(call.name, args, 1.0, expected_latency(call.kind or call.name, {}),
                           canonical_call(call.name, args), call.kind or call.name)]

    def _knowable(self, n: int, pending: int) -> bool:
        """Whether call n can be known while calls n - pending .. n - 1 still run."""
        first = n - pending
        if first < 0 or self._run[n] != self._run[first]:
            return False
        known = "\n".join(self._seen[: self._seen_before[first]])
        hidden = "\n".join(self._outputs[first:n])
        return not any(v in hidden and v not in known for v in _leaves(self._calls[n].arguments))


def _leaves(value: Any) -> Iterator[str]:
    """The string and number leaves of a JSON value, as text (booleans and None excluded)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, str) or (isinstance(value, (int, float))
                                    and not isinstance(value, bool)):
        yield str(value)
