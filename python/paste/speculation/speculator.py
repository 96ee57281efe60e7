"""Speculator: connects live sessions to the predictor and the SpeculationManager.

One Speculator per engine; `track(session_id, tenant)` gives a session its SessionSpeculation,
which the session feeds with what happens (user message, each tool result) and through which
it dispatches the calls the model emits:

    user message / tool result -> SessionState (patterns) -> Predictor.predict(k)
        -> Candidates (p, expected tool latency, expected time until the model emits the call)
        -> SpeculationManager.speculate (admission, global budget, staging)
    emitted call -> SpeculationManager.resolve -> a hit (reused / awaited / promoted) or a miss

and through which its model turns carry the staged calls to the engine's trie matcher:

    turn_params(params)  the turn's GenerationParams + the format's CallScan + one candidate
                         per staged job not done yet (rendering.py, the engine's tokenizer)
    on_output(out)       CONFIRMED(c) -> promote_early; REFUTED -> cancel_refuted (this turn's
                         candidates), handled before the parser sees the step's text.
                         A candidate refuted by one call of a turn is withdrawn even if a later
                         call of that turn would have matched it: that call is then a miss.

Tenant isolation: a session only ever asks its own tenant's predictor. The expected time until
a call is emitted is the engine's measured step time times the expected number of tokens of a
turn; while either is unknown, every estimate is missing and admission fails closed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from paste.engine.call_events import CallEventKind
from paste.parsing import canonical_call
from paste.patterns.bash import bash_kind
from paste.patterns.state import SessionState
from paste.patterns.trace import ToolCall
from paste.speculation.admission import Candidate
from paste.speculation.manager import ResolvedCall, SpeculationManager
from paste.speculation.rendering import render_candidate, scan_for_format
from paste.tools.results import ToolJob

PredictorFor = Callable[[str], Any]  # tenant -> Predictor (or None: no patterns yet)


class SessionSpeculation:
    """Speculation state of one session; used by that session's thread only."""

    def __init__(self, speculator: Speculator, session_id: str, tenant: str) -> None:
        self._sp, self.session_id, self.tenant = speculator, session_id, tenant
        self.state = SessionState()
        self._turn_tokens: list[int] = []
        self._cand_tokens: dict[int, tuple[int, ...]] = {}  # candidate id -> its tokens
        self._turn_cands: list[int] = []  # candidates of the turn in progress

    def on_user(self, text: str) -> None:
        self.state.add_user(text)
        self.launch()

    def on_result(self, name: str, arguments: dict[str, Any], content: str, ok: bool) -> None:
        kind = bash_kind(str(arguments.get("command", ""))) if name == "bash" else ""
        self.state.add_step(ToolCall(name, dict(arguments), kind=kind), content,
                            "ok" if ok else "error")

    def on_turn(self, num_output_tokens: int) -> None:
        """A model turn ended with this many tokens (feeds the time-to-call estimate)."""
        self._turn_tokens.append(num_output_tokens)

    def launch(self) -> list[str]:
        """Predict the next calls and launch the admitted ones; returns their canonical forms."""
        predictor = self._sp.predictor_for(self.tenant)
        if predictor is None or not self._sp.manager.config.enable_speculation:
            return []
        until = self._sp.time_until_emitted(self._turn_tokens)
        preds = predictor.predict(self.state, self._sp.manager.config.max_predictions_per_event)
        cands = [Candidate(p.name, dict(p.arguments), canonical_call(p.name, p.arguments),
                           p.probability, p.expected_latency_s, until) for p in preds]
        return self._sp.manager.speculate(self.session_id, cands)

    def submit(self, job: ToolJob) -> ResolvedCall:
        args = dict(job.arguments) if not isinstance(job.arguments, str) else {}
        return self._sp.manager.resolve(self.session_id, job.call_id, job.name, args,
                                        canonical_call(job.name, args))

    def turn_params(self, params: Any, fmt: str, tokenizer: Any) -> Any:
        """`params` (GenerationParams) with the call scan of format `fmt` and the staged jobs
        not done yet as trie candidates; unchanged when there is nothing to match."""
        manager = self._sp.manager
        scan = scan_for_format(fmt)
        self._turn_cands = []
        enabled = manager.config.enable_speculation and manager.config.enable_trie
        if scan is None or tokenizer is None or not enabled:
            return params
        cands = []
        for job in manager.staging.jobs(self.session_id):
            if job.promoted or job.future.done():
                continue
            tokens = self._cand_tokens.get(job.cand_id)
            if tokens is None:
                text = render_candidate(fmt, job.name, dict(job.arguments))
                tokens = tuple(tokenizer.encode(text, add_special_tokens=False)) if text else ()
                self._cand_tokens[job.cand_id] = tokens
            if tokens:
                cands.append((job.cand_id, tokens))
        live = {c for c, _ in cands}
        self._cand_tokens = {c: t for c, t in self._cand_tokens.items() if c in live}
        if not cands:
            return params
        self._turn_cands = sorted(live)
        return dataclasses.replace(params, call_scan=scan, call_candidates=tuple(cands))

    def on_output(self, out: Any) -> None:
        """Acts on the trie's verdicts of one engine step (RequestOutput.call_events)."""
        for event in getattr(out, "call_events", ()):
            if event.kind is CallEventKind.CONFIRMED:
                self._sp.manager.promote_early(self.session_id, event.candidate_id)
            elif event.kind is CallEventKind.REFUTED:
                self._sp.manager.cancel_refuted(self.session_id, self._turn_cands)

    def metrics(self) -> dict[str, object]:
        """This session's speculation counters (SpeculationCounts.as_dict)."""
        return self._sp.manager.metrics.snapshot(self.session_id)

    def close(self) -> None:
        self._sp.manager.end_session(self.session_id)


class Speculator:
    def __init__(self, manager: SpeculationManager, predictor_for: PredictorFor,
                 step_time_s: Callable[[], float | None],
                 default_turn_tokens: int = 48) -> None:
        self.manager = manager
        self.predictor_for = predictor_for
        self._step_time_s = step_time_s
        self.default_turn_tokens = default_turn_tokens

    def track(self, session_id: str, tenant: str) -> SessionSpeculation:
        return SessionSpeculation(self, session_id, tenant)

    def time_until_emitted(self, turn_tokens: list[int]) -> float | None:
        step = self._step_time_s()
        if step is None:
            return None
        recent = turn_tokens[-4:]
        tokens = sum(recent) / len(recent) if recent else self.default_turn_tokens
        return step * tokens
