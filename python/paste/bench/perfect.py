"""ScriptPredictor: the ceiling of speculation, a predictor that knows the replayed session.

Mode `paste-perfect` replays a trace with this predictor in place of the mined one: asked in a
session state that has seen n calls, it predicts exactly the script's (n+1)-th recorded call,
with probability 1, and nothing after the last one. Everything else is paste's own (admission,
the waste bound, staging, transactions, the effect classes, the timing of each launch), so the
mode measures how much of the serial->oracle gap speculation could capture with perfect
prediction: what the engine's mechanics and a workload's timing allow, apart from how well the
calls are predicted. It is a benchmark instrument, never a predictor a server could use.
"""

from __future__ import annotations

from collections.abc import Callable

from paste.bench.script import ReplayScript
from paste.parsing import canonical_call
from paste.patterns.latency import expected_latency
from paste.patterns.predictor import Prediction
from paste.patterns.state import SessionState


class ScriptPredictor:
    """Predicts the script's next recorded call (module docstring)."""

    def __init__(self, script: ReplayScript) -> None:
        self._calls = [t.call for t in script.calls if t.call is not None]

    def predict(self, state: SessionState, k: int = 5,
                allow: Callable[[str], bool] | None = None) -> list[Prediction]:
        """[the next recorded call] (p = 1), or [] when k <= 0, the script has no more calls,
        or `allow` refuses its tool."""
        n = len(state.calls)
        if k <= 0 or n >= len(self._calls):
            return []
        call = self._calls[n]
        if allow is not None and not allow(call.name):
            return []
        args = dict(call.arguments)
        return [Prediction(call.name, args, 1.0, expected_latency(call.kind or call.name, {}),
                           canonical_call(call.name, args), call.kind or call.name)]
