"""MissCauses: why an emitted call was a miss, one cause per miss.

The hit rate says how often speculation answered a call; the causes say what to improve when it
did not: the prediction, admission, or the tool itself. For every candidate that reaches
admission (SpeculationManager.speculate) the outcome is recorded under (session, canonical call)
with the position it was predicted for (the session's next emitted call, or the one after for a
chained job): "launched" or the failed check. When the model emits a call that no staged job
answers, its cause is, in this order:

  not_speculable  the call may never run speculatively: not pure / read_only and its tool has
                  no transaction (or transactions are off) and no sandbox, or the tool is
                  unknown (admission.refusal "effect")
  policy          the tool's speculation policy refuses these arguments
  discarded       a job for it was launched but was gone when the call came: made stale by a
                  side-effecting call, withdrawn on the trie's REFUTED, cut by the waste bound,
                  yielded its core, expired, or failed; or the call claimed it but its result
                  could not be used (failed, not fresh, or its transaction's commit raised:
                  counted by ResolvedCall, not here)
  estimates | value | waste | cpu | budget
                  it was predicted for this position but admission refused it (the check that
                  failed the last time it was offered)
  unpredicted     no prediction of it reached admission for this position

Outcomes recorded for a position are dropped once the call of that position is emitted, so the
table holds at most the candidates of a session's next two positions.
"""

from __future__ import annotations

import threading

LAUNCHED = "launched"
# Every cause, in the order the module docstring gives them (reports list them so).
CAUSES = ("not_speculable", "policy", "discarded", "estimates", "value", "waste", "cpu",
          "budget", "unpredicted")


class MissCauses:
    """Per-session record of the candidates' admission outcomes (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # session -> canonical -> (position predicted for, outcome)
        self._offered: dict[str, dict[str, tuple[int, str]]] = {}

    def offered(self, session_id: str, canonical: str, position: int, outcome: str) -> None:
        """A candidate for the session's `position`-th emitted call reached admission:
        `outcome` is LAUNCHED or the failed check's reason. The latest outcome counts."""
        with self._lock:
            self._offered.setdefault(session_id, {})[canonical] = (position, outcome)

    def cause(self, session_id: str, canonical: str, position: int,
              refusal: str | None) -> str:
        """The cause of a miss: the session's `position`-th emitted call, `canonical`, was
        answered by no staged job; `refusal` is admission.refusal for the call ("effect",
        "policy" or None). Drops the outcomes of positions up to this one."""
        with self._lock:
            offered = self._offered.get(session_id, {})
            entry = offered.get(canonical)
            self._prune(session_id, position)
        if refusal == "effect":
            return "not_speculable"
        if refusal is not None:
            return refusal
        if entry is None or entry[0] < position:
            return "unpredicted"
        return "discarded" if entry[1] == LAUNCHED else entry[1]

    def emitted(self, session_id: str, position: int) -> None:
        """The session's `position`-th call was emitted and answered (a hit): the outcomes
        recorded for positions up to it are no longer needed."""
        with self._lock:
            self._prune(session_id, position)

    def end_session(self, session_id: str) -> None:
        with self._lock:
            self._offered.pop(session_id, None)

    def _prune(self, session_id: str, position: int) -> None:
        offered = self._offered.get(session_id)
        if offered is None:
            return
        for canonical in [c for c, (pos, _o) in offered.items() if pos <= position]:
            del offered[canonical]
        if not offered:
            del self._offered[session_id]
