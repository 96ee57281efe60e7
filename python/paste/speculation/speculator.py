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
                         candidates), handled before the parser sees the step's text. The
                         matcher restarts at every call of a turn, so a later call may CONFIRM
                         a candidate an earlier one refuted: its withdrawn job (it never ran)
                         is restarted in the authoritative lane (restart_confirmed).

The session's state knows the tools it offers (`track(tools=...)`), so the predictor's
probabilities are renormalised over those tools: the model cannot call any other. Only tools
the session offers and that may run speculatively (pure / read_only, or with a
sandbox and a freshness check) are asked from the predictor (`predict(allow=...)`), and of
its calls only those that pass admission's per-call checks (the call's own effect class, e.g.
a bash tool's `sed -i`, and the tool's speculation policy) are kept before the top-k cut, so a
call admission would refuse never takes one of the k slots. Chaining (SpeculationConfig.chain):
when a speculative job finishes OK, the predictor is asked again on a fork of the session's
state with that call and its result appended, as if the model had emitted it; the calls after
it are admitted with probability p(call) * p(next | call) and the time until emitted of two
turns. Chained candidates never chain again (depth 1), and a chained candidate that repeats
its parent call is dropped (the session already has that result, or is about to claim it).
Depth counts from the session's position: when a turn starts and its next call is predicted
again, a prediction already staged (a chained job, a lookahead job) is the next call now, so
the chain follows it as it follows a job launched then (once per staged job). A chain is
dropped when the session's state has moved on since its job was launched (or found staged),
e.g. when the model's call claimed the job and its result reached the session first: the
session's next turn predicts from that result.

Lookahead (SpeculationConfig.lookahead): the moment the model emits a pure / read_only call
(`submit`), the call after it is predicted on a fork with the emitted call still running
(`SessionState.add_pending`: its output is unknown, so only arguments that do not come from
it can be predicted) and admitted with the time until emitted of the emitted call's expected
latency plus a turn. A read-only call cannot change what the next one sees, so the two run
side by side: the next call's tool time hides behind the running one's, where waiting for
its result would hide only the next turn's decode. Not after a side-effecting call, nor
while one of the turn's earlier calls with effects still runs.

Name known (SpeculationConfig.name_known, off by default): while the model decodes a call,
the session hands the streaming parser to `on_stream` after every step; the moment the call's
tool name is written out (parsing.peek: `{"name": "search_flights", "argu...`), the calls of
that tool are predicted on a fork of the session's state with the turn's running calls
pending and the turn's text so far added (`SessionState.add_turn`: the THOUGHT before a
command, "let me search flights from JFK to SEA"; its last TURN_CHARS characters), given the
tool (`predict(tool=name)`: every other tool excluded, probabilities those of the arguments
given the tool, with the store's calibration of such predictions), and admitted with the time
until emitted of the rest of the candidate's call text: its rendering after the name
(rendering.py), in tokens of the engine's tokenizer (without one, or for a format without a
rendering, its arguments' JSON at CHARS_PER_TOKEN characters per token), times the engine's
step time. Once per call of a turn; a call whose name is not written within PEEK_CHARS
characters is not peeked at again.

A prediction that fails (a predictor error) is logged and speculates nothing: the session's
turns and its emitted calls go on as without speculation.

Tenant isolation: a session only ever asks its own tenant's predictor. The expected time until
a call is emitted is the engine's measured step time times the expected number of tokens of a
turn; while either is unknown, every estimate is missing and admission fails closed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from paste.engine.call_events import CallEventKind
from paste.parsing import canonical_call
from paste.parsing.peek import peek_call_name
from paste.patterns.bash import bash_kind
from paste.patterns.latency import expected_latency
from paste.patterns.state import SessionState
from paste.patterns.trace import ToolCall
from paste.speculation.admission import (
    SAFE_EFFECTS,
    Candidate,
    refusal,
    runs_side_effects_safely,
)
from paste.speculation.latency import latency_kind
from paste.speculation.manager import ResolvedCall, SpeculationManager
from paste.speculation.rendering import render_candidate, scan_for_format
from paste.tools.errors import UnknownToolError
from paste.tools.results import ToolJob
from paste.tools.spec import EffectClass, ToolSpec

logger = logging.getLogger(__name__)
PredictorFor = Callable[[str], Any]
# Predictions asked per candidate wanted: calls that fail the per-call checks (a tool that
# classifies its calls, a speculation policy) are dropped before the top-k cut.
OVERASK = 3
TURN_CHARS = 4000  # the turn's text given to a name-known prediction: at most its last ones
PEEK_CHARS = 512  # a call's name is looked for in the first PEEK_CHARS characters of its text
CHARS_PER_TOKEN = 4.0  # the remaining arguments' decode time: their JSON length / this, in tokens


def _tool_call(name: str, arguments: Any) -> ToolCall:
    kind = bash_kind(str(arguments.get("command", ""))) if name == "bash" else ""
    return ToolCall(name, dict(arguments), kind=kind)  # tenant -> Predictor (or None: no patterns yet)


class SessionSpeculation:
    """Speculation state of one session; used by that session's thread only."""

    def __init__(self, speculator: Speculator, session_id: str, tenant: str,
                 tools: frozenset[str] | None = None,
                 params: dict[str, tuple[str, ...]] | None = None,
                 docs: dict[str, str] | None = None, today: str | None = None,
                 env: Any = None) -> None:
        self._sp, self.session_id, self.tenant = speculator, session_id, tenant
        self.state = SessionState(env=env, tools=tools, params=params, docs=docs, today=today)
        self._turn_tokens: list[int] = []
        self._lock = threading.Lock()  # state: session thread vs chaining on tool threads
        self._closed = False
        self._cand_tokens: dict[int, tuple[int, ...]] = {}  # candidate id -> its tokens
        self._turn_cands: list[int] = []  # candidates of the turn in progress
        self._withdrawn: dict[int, Any] = {}  # this turn's refuted, withdrawn StagedJobs
        # Emitted calls whose results have not arrived: (call, pure / read_only).
        self._running: list[tuple[ToolCall, bool]] = []
        self._stream: Any = None  # the parser of the turn on_stream last saw
        self._peeked: set[int] = set()  # calls of that turn (by index) whose name was handled
        self._render: tuple[str, Any] | None = None  # (format, tokenizer) of the turn
        self._chained: set[int] = set()  # staged jobs (cand ids) a chain follows

    def on_user(self, text: str) -> None:
        with self._lock:
            self.state.add_user(text)
            self._running = []
        self.launch()

    def on_result(self, name: str, arguments: dict[str, Any], content: str, ok: bool) -> None:
        call = _tool_call(name, arguments)
        with self._lock:
            self.state.add_step(call, content, "ok" if ok else "error")
            for i, (running, _safe) in enumerate(self._running):
                if running.name == call.name and running.arguments == call.arguments:
                    del self._running[i]
                    break

    def on_turn(self, num_output_tokens: int) -> None:
        """A model turn ended with this many tokens (feeds the time-to-call estimate)."""
        self._turn_tokens.append(num_output_tokens)

    def launch(self) -> list[str]:
        """Predict the next calls and launch the admitted ones; returns their canonical forms."""
        predictor = self._sp.predictor_for(self.tenant)
        if predictor is None or not self._sp.manager.config.enable_speculation:
            return []
        manager = self._sp.manager
        until = self._sp.time_until_emitted(self._turn_tokens)
        with self._lock:
            at = len(self.state.entries)
            try:
                cands = self._candidates(predictor, self.state, until)
            except Exception:  # noqa: BLE001 - speculation is optional; the session is not
                logger.exception("predicting the next calls of session %s failed; nothing "
                                 "is speculated", self.session_id)
                return []
        chain = manager.config.chain and until is not None
        on_done = functools.partial(self._chain, at) if chain else None
        launched = manager.speculate(self.session_id, cands, on_done=on_done)
        if on_done is not None:
            self._chain_staged(cands, launched, on_done)
        return launched

    def _chain_staged(self, cands: list[Candidate], launched: list[str],
                      on_done: Callable[[Candidate, Any], None]) -> None:
        """Chain from the candidates that were staged already (a chained job, say, or the
        last turn's lookahead): they are the session's next call now, so the call after them
        is one turn further, as for a job launched now. Once per staged job."""
        staging = self._sp.manager.staging
        live = {j.cand_id for j in staging.jobs(self.session_id)}
        self._chained &= live
        for cand in cands:
            job = staging.get(self.session_id, cand.canonical)
            if job is None or job.cand_id in self._chained:
                continue
            self._chained.add(job.cand_id)
            if cand.canonical not in launched:  # a job launched now chains by its on_done
                job.future.add_done_callback(functools.partial(on_done, cand))

    def _candidates(self, predictor: Any, state: SessionState, until: float | None,
                    scale: float = 1.0, tool: str | None = None,
                    exclude: frozenset[str] = frozenset()) -> list[Candidate]:
        """The predictor's calls in `state` as admission candidates; probabilities times
        `scale` (the probability of the speculated call a chained prediction follows).
        `tool`: only calls of that tool, predicted given it (its name was decoded); calls in
        `exclude` (canonical forms) are left out before the top-k cut."""
        k = self._sp.manager.config.max_predictions_per_event
        if tool is None:
            preds = predictor.predict(state, k * OVERASK, allow=self._sp.may_speculate)
        else:
            preds = predictor.predict(state, k * OVERASK, allow=lambda n: n == tool, tool=tool)
        cands = []
        for p in preds:
            canonical = canonical_call(p.name, p.arguments)
            if canonical not in exclude and self._sp.may_speculate_call(p.name, p.arguments):
                cands.append(Candidate(p.name, dict(p.arguments), canonical,
                                       scale * p.probability, p.expected_latency_s, until))
        return cands[:k]

    def _chain(self, at: int, parent: Candidate, future: Any) -> None:
        """A speculative job launched when the session's state had `at` entries finished:
        speculate on the call after it (module docstring)."""
        predictor = self._sp.predictor_for(self.tenant)
        manager = self._sp.manager
        if self._closed or predictor is None or parent.probability is None:
            return
        try:
            result = future.result(0)
        except Exception:  # noqa: BLE001 - a failed speculation is simply not chained
            return
        if not result.ok or self._sp.manager.is_transaction(parent.name, parent.arguments):
            return  # a transaction's effects are private: calls after it would not see them
        with self._lock:
            if len(self.state.entries) != at:
                return  # the session moved on (e.g. the parent's own result arrived)
            state = self.state.fork()
        state.add_step(_tool_call(parent.name, parent.arguments), result.content, "ok")
        turn = self._sp.time_until_emitted(self._turn_tokens)
        if turn is None:
            return
        until = turn + (parent.time_until_emitted_s or 0.0)
        cands = [c for c in self._candidates(predictor, state, until, parent.probability)
                 if c.canonical != parent.canonical]  # the parent's own result is at hand
        launched = manager.speculate(self.session_id, cands, ahead=2)
        if launched:
            manager.metrics.add(self.session_id, "chained_jobs", len(launched))

    def submit(self, job: ToolJob) -> ResolvedCall:
        args = dict(job.arguments) if not isinstance(job.arguments, str) else {}
        canonical = canonical_call(job.name, args)
        resolved = self._sp.manager.resolve(self.session_id, job.call_id, job.name, args,
                                            canonical)
        try:
            self._look_ahead(_tool_call(job.name, args), canonical)
        except Exception:  # noqa: BLE001 - speculation is optional; the emitted call is not
            logger.exception("lookahead after %r failed; the call runs as emitted", job.name)
        return resolved

    def _look_ahead(self, call: ToolCall, canonical: str) -> None:
        """The model emitted `call`: speculate on the call after it (module docstring)."""
        manager = self._sp.manager
        if not (manager.config.lookahead and manager.config.enable_speculation):
            return  # nothing reads the running calls then
        safe = self._sp.is_safe_call(call.name, call.arguments)
        with self._lock:
            self._running.append((call, safe))
            running = list(self._running)
        predictor = self._sp.predictor_for(self.tenant)
        if predictor is None or not all(s for _c, s in running):
            return
        turn = self._sp.time_until_emitted(self._turn_tokens)
        latency = manager.latency.estimate(
            latency_kind(call.name, call.arguments), expected_latency(call.kind or call.name, {}))
        if turn is None or latency is None:
            return
        with self._lock:
            state = self.state.fork()
        for c, _safe in running:
            state.add_pending(c)
        ahead = {canonical_call(c.name, c.arguments) for c, _s in running}
        cands = [c for c in self._candidates(predictor, state, turn + latency)
                 if c.canonical not in ahead]  # the running calls' results are coming
        launched = manager.speculate(self.session_id, cands)
        if launched:
            manager.metrics.add(self.session_id, "lookahead_jobs", len(launched))

    def on_stream(self, parser: Any) -> list[str]:
        """After each step of a turn, with the turn's StreamingToolCallParser: when the call
        being decoded has just had its tool name written, speculate on that tool's calls
        (module docstring, "Name known"). Returns the canonical forms launched."""
        config = self._sp.manager.config
        if not (config.name_known and config.enable_speculation):
            return []
        if parser is not self._stream:  # a new turn
            self._stream, self._peeked = parser, set()
        body = parser.partial_call(PEEK_CHARS)
        if body is None:
            return []
        index = len(parser.calls)
        if index in self._peeked:
            return []
        name = peek_call_name(parser.format, body)
        if name is None:
            if len(body) >= PEEK_CHARS:
                self._peeked.add(index)  # no name where names are written: give up
            return []
        self._peeked.add(index)
        try:
            return self._launch_named(name, parser.content)
        except Exception:  # noqa: BLE001 - speculation is optional; the turn goes on
            logger.exception("predicting the calls of %r failed; nothing is speculated", name)
            return []

    def _launch_named(self, name: str, text: str) -> list[str]:
        predictor = self._sp.predictor_for(self.tenant)
        step = self._sp.step_time_s()
        offered = self.state.tools
        if predictor is None or step is None or not self._sp.may_speculate(name) or (
                offered is not None and name not in offered):
            return []
        with self._lock:
            state = self.state.fork()
            running = list(self._running)
        for c, _safe in running:
            state.add_pending(c)
        state.add_turn(text[-TURN_CHARS:])
        ahead = frozenset(canonical_call(c.name, c.arguments) for c, _s in running)
        cands = [dataclasses.replace(c, time_until_emitted_s=step * self._tokens_after_name(c))
                 for c in self._candidates(predictor, state, None, tool=name, exclude=ahead)]
        launched = self._sp.manager.speculate(self.session_id, cands)
        if launched:
            self._sp.manager.metrics.add(self.session_id, "named_jobs", len(launched))
        return launched

    def _tokens_after_name(self, p: Candidate) -> float:
        """Tokens the model still decodes once the name of call `p` is written (module doc)."""
        if self._render is not None and self._render[1] is not None:
            fmt, tokenizer = self._render
            text = render_candidate(fmt, p.name, dict(p.arguments))
            name = json.dumps(p.name, ensure_ascii=False)
            if text is not None and name in text:
                rest = text[text.index(name) + len(name):]
                return float(len(tokenizer.encode(rest, add_special_tokens=False)))
        return len(json.dumps(p.arguments, ensure_ascii=False)) / CHARS_PER_TOKEN

    def turn_params(self, params: Any, fmt: str, tokenizer: Any) -> Any:
        """`params` (GenerationParams) with the call scan of format `fmt` and the staged jobs
        not done yet as trie candidates; unchanged when there is nothing to match."""
        manager = self._sp.manager
        scan = scan_for_format(fmt)
        self._turn_cands, self._withdrawn = [], {}
        self._render = (fmt, tokenizer)
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
        manager = self._sp.manager
        for event in getattr(out, "call_events", ()):
            if event.kind is CallEventKind.CONFIRMED:
                withdrawn = self._withdrawn.pop(event.candidate_id, None)
                if withdrawn is not None:
                    manager.restart_confirmed(withdrawn)
                else:
                    manager.promote_early(self.session_id, event.candidate_id)
            elif event.kind is CallEventKind.REFUTED:
                for job in manager.cancel_refuted(self.session_id, self._turn_cands):
                    self._withdrawn[job.cand_id] = job

    def metrics(self) -> dict[str, object]:
        """This session's speculation counters (SpeculationCounts.as_dict)."""
        return self._sp.manager.metrics.snapshot(self.session_id)

    def close(self) -> None:
        self._closed = True
        self._sp.manager.end_session(self.session_id)


class Speculator:
    def __init__(self, manager: SpeculationManager, predictor_for: PredictorFor,
                 step_time_s: Callable[[], float | None],
                 default_turn_tokens: int = 48, offered_tools: bool = True) -> None:
        """offered_tools: a session's predictions consider only the tools it offers (`track`'s
        `tools`, its request's tool list); False when that list is not the agent's real one
        (a trace replay of a source that did not record it)."""
        self.manager = manager
        self.predictor_for = predictor_for
        self._step_time_s = step_time_s
        self.default_turn_tokens = default_turn_tokens
        self.offered_tools = offered_tools

    def _spec(self, name: str) -> ToolSpec | None:
        """The registered ToolSpec of `name`, or None for an unknown tool."""
        try:
            return self.manager.registry.get(name)
        except UnknownToolError:
            return None

    def may_speculate(self, name: str) -> bool:
        """Whether a call of tool `name` could pass admission's effect check at all: the tool
        is registered and pure / read_only, has a transaction, or has a sandbox and a
        freshness check."""
        spec = self._spec(name)
        if spec is None:
            return False
        if EffectClass(spec.effect) in SAFE_EFFECTS:
            return True
        return runs_side_effects_safely(spec, self.manager.config.transactions)

    def is_safe_call(self, name: str, arguments: dict[str, Any]) -> bool:
        """Whether this call is pure / read_only (its tool's per-call effect class): running
        another call beside it sees the same world as running it after."""
        spec = self._spec(name)
        return spec is not None and EffectClass(spec.call_effect(dict(arguments))) in SAFE_EFFECTS

    def may_speculate_call(self, name: str, arguments: dict[str, Any]) -> bool:
        """Whether this very call passes admission's call checks (its effect class, e.g. a
        bash tool's `sed -i`, and the tool's speculation policy)."""
        spec = self._spec(name)
        return spec is not None and refusal(spec, dict(arguments),
                                            self.manager.config.transactions) is None

    def track(self, session_id: str, tenant: str,
              tools: Iterable[str] | None = None,
              params: dict[str, tuple[str, ...]] | None = None,
              docs: dict[str, str] | None = None,
              today: str | None = None, env: Any = None) -> SessionSpeculation:
        """The speculation state of a new session offering `tools` (names; None: unknown),
        with `params`, the required parameters of each tool when their schemas are known (the
        predictor then fills calls of tools its patterns never saw, unknowntools.py),
        `docs`, their descriptions (textevidence.doc_scores), and `today`, the session's
        current date (ISO) when its system prompt states one (values.stated_date), and `env`,
        the state its tools act on when the application knows it (a JSON value: BFCL's
        initial_config, a file tree, an account), indexed for argument prediction as
        SessionState.env (the folder a first `cd` enters)."""
        offered = frozenset(tools) if tools is not None and self.offered_tools else None
        known = offered is not None
        return SessionSpeculation(self, session_id, tenant, offered,
                                  params if known else None, docs if known else None, today,
                                  env)

    def step_time_s(self) -> float | None:
        """The engine's measured decode step time (None while unknown)."""
        return self._step_time_s()

    def time_until_emitted(self, turn_tokens: list[int]) -> float | None:
        step = self._step_time_s()
        if step is None:
            return None
        recent = turn_tokens[-4:]
        tokens = sum(recent) / len(recent) if recent else self.default_turn_tokens
        return step * tokens
