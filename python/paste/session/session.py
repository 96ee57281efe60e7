"""Session: the server-side agent loop, model -> tools -> model ... -> final answer.

Each run appends the user message, then repeats a model turn until the model answers without
a tool call: render the whole transcript with the model's chat template (template.py), submit
it as the session's next turn (the engine keeps the session's KV parked between turns, so a
transcript that extends the previous one prefills only its new tokens), stream the output
through the tool-call parser, dispatch each call the moment it is complete (calls.py), commit
the assistant message, wait for the turn's results and commit them in call order.

Nothing is lost: messages are committed as soon as they exist and are never removed. A failing,
hanging or crashing tool, an unknown tool, bad arguments or malformed call text becomes an
error message for the model (a tool message) and the run continues; an engine failure ends the
run with status "error" and max_turns with status "max_turns", both with a message saying why.
A ProcessEngine whose process exits mid-turn and restarts (max_restarts) is the exception: a
turn that had dispatched no call yet committed nothing, so it runs again on the new process
(once; TurnRestarted tells a stream consumer to drop that turn's TokenDeltas), and its
transcript is prefilled again there.
Even a stream abandoned by its consumer leaves a well-formed transcript (running calls are
cancelled and answered with their cancellation message).

Threading: a Session is driven by one caller at a time (its run executes on the caller's
thread; SessionBusyError otherwise). Many sessions run concurrently on one Engine, which
batches their turns, and one ToolExecutor, which runs their tools.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import replace
from typing import Any

from paste.engine.call_events import ReasoningGate
from paste.engine.step_loop import EngineRestartingError
from paste.errors import InvalidArgumentError, PasteError
from paste.parsing import ContentDelta, StreamingToolCallParser
from paste.parsing.call_text import calls_spec
from paste.parsing.reasoning import ReasoningSplitter, ReasoningTags
from paste.patterns.loaders.openai_messages import tool_docs, tool_params
from paste.session.calls import CallOutcome, TurnCalls, call_timings, now, tool_call_message
from paste.session.errors import SessionBusyError, SessionClosedError
from paste.session.events import (
    Final,
    ReasoningDelta,
    SessionEvent,
    Status,
    TokenDelta,
    ToolCallEvent,
    ToolResultEvent,
    TurnRestarted,
)
from paste.session.metrics import SessionMetrics, SessionResult, TurnMetrics
from paste.session.priority import engine_kv_usage, outlook
from paste.session.restore import (
    check_messages,
    highest_call_number,
    interrupted_message,
    tool_history,
    unanswered_calls,
)
from paste.session.template import ASSISTANT_VIEWS, TemplateProfile, render_view
from paste.session.trace import append_record, trace_record

TurnParams = Any  # GenerationParams | Callable[[list[dict]], GenerationParams]


class ModelTurnError(PasteError, RuntimeError):
    """The engine could not produce a model turn (stopped, prompt too long, step failure)."""


class TurnLostError(ModelTurnError):
    """The engine process exited during a model turn that had dispatched no call; a new
    process is starting (EngineRestartingError), so the turn can run again."""


# How many times one model turn runs again after the engine process restarted under it
# (a turn that crashes the engine each time must not use up the engine's restarts).
TURN_RESTARTS = 1


def _gate(tokenizer: Any, tags: ReasoningTags, inside: bool) -> ReasoningGate:
    """The engine's view of this turn's thinking: its tags as token ids."""
    def ids(text: str) -> tuple[int, ...]:
        return tuple(int(t) for t in tokenizer.encode(text, add_special_tokens=False))
    return ReasoningGate(ids(tags.open), ids(tags.close), inside)


class Session:
    """One agent conversation. Build it with `open_session`; see the module docstring."""

    def __init__(
        self,
        engine: Any,
        registry: Any,
        executor: Any,
        *,
        session_id: str,
        system: str | None,
        tenant: str,
        max_turns: int,
        parser: str,
        turn_params: TurnParams,
        priority: float,
        pin_ttl_s: float,
        assistant_view: str = "raw",
        speculation: Any = None,
        early_dispatch: bool = True,
        kv_retention: bool = True,
        coscheduling: Any = None,
        strict_calls: bool = False,
        environment: Any = None,
        on_commit: Any = None,
        reasoning: ReasoningTags | None = None,
    ) -> None:
        if max_turns < 1:
            raise InvalidArgumentError(f"max_turns must be >= 1, got {max_turns}")
        if assistant_view not in ASSISTANT_VIEWS:
            raise InvalidArgumentError(
                f"assistant_view must be one of {', '.join(ASSISTANT_VIEWS)}, "
                f"got {assistant_view!r}"
            )
        self.assistant_view = assistant_view
        self.speculation = speculation  # paste.speculation.SessionSpeculation, or None
        self.environment = environment  # the state its tools act on (recorded in the trace)
        # Ablation switches: dispatch a call as soon as it is decoded (else at the turn's end);
        # keep the session's KV parked between turns (else every turn is a new request).
        self.early_dispatch, self.kv_retention = early_dispatch, kv_retention
        self.coscheduling = coscheduling  # CoSchedulingPolicy for returning turns, or None
        self.reasoning = reasoning  # <think> tags: the thinking is not answer (open_session)
        self._tools_done_at: float | None = None  # when the last tool results landed
        self.engine, self.executor = engine, executor
        self.session_id, self.tenant, self.parser = session_id, tenant, parser
        self.max_turns, self.priority, self.pin_ttl_s = max_turns, priority, pin_ttl_s
        self.messages: list[dict[str, Any]] = []
        self.status: Status | None = None
        self.final_text = ""
        self._turn_params = turn_params
        self._tools: list[dict] = registry.openai_tools()
        # strict_calls: every call the model opens is a whole call of one of the session's
        # tools with schema-valid arguments (a grammar on each sampled turn; none when the
        # registry is empty, the format pythonic, or a turn is teacher-forced)
        self._calls_spec = (calls_spec([t["function"] for t in self._tools], None, parser)
                            if strict_calls else None)
        self._profile = TemplateProfile.probe(engine)
        self._raw_texts: dict[int, str] = {}  # assistant message index -> the model's text
        self._timings: dict[str, dict[str, float]] = {}
        self._failed_call_ids: set[str] = set()
        self._metrics = SessionMetrics()
        self._num_call_ids = 0
        self._busy = threading.Lock()  # held by the run in progress
        self._closed = False
        self._t0, self._t0_unix = now(), time.time()
        # on_commit(message, raw text of an assistant message, ok of a tool message): called
        # as each message is committed (server/session_journal.py writes them down)
        self.on_commit = on_commit
        if system:
            self._append({"role": "system", "content": system})

    # ----- public API --------------------------------------------------------------------
    def run(self, user_text: str) -> SessionResult:
        """Run to the final answer (or max_turns / an error); see SessionResult."""
        for _ in self.stream(user_text):
            pass
        return self.result()

    def stream(self, user_text: str) -> Iterator[SessionEvent]:
        """Like run, yielding events (events.py) as they happen; the last one is Final.

        Checks (SessionClosedError, SessionBusyError) happen at the first next().
        """
        if self._closed:
            raise SessionClosedError(f"session {self.session_id!r} is closed")
        if not self._busy.acquire(blocking=False):
            raise SessionBusyError(f"session {self.session_id!r} is already running")
        try:
            self.status, self.final_text = None, ""
            self._append({"role": "user", "content": user_text})
            if self.speculation is not None:
                self.speculation.on_user(user_text)
            final = yield from self._run_turns()
            self.status, self.final_text = final.status, final.text
            yield final
        finally:
            self._busy.release()

    def result(self) -> SessionResult:
        """The outcome of the last run (status None while no run has ended)."""
        return SessionResult(self.status, self.final_text, list(self.messages), self.metrics())

    def metrics(self) -> dict[str, Any]:
        """SessionMetrics.summary(): per-turn prefix-hit ratios, token counts, times."""
        summary = self._metrics.summary(now() - self._t0)
        if self.speculation is not None:  # hits by kind, misses, launches, waste
            summary["speculation"] = self.speculation.metrics()
        return summary

    def trace(self) -> dict[str, Any]:
        """The session as one record of paste's JSONL trace format (trace.py)."""
        return trace_record(
            self.session_id, self.tenant, self.messages, self._failed_call_ids,
            self._timings, self.status, self.metrics(), self._t0_unix,
            [t["function"]["name"] for t in self._tools], tool_params(self._tools),
            tool_docs(self._tools), self.environment,
        )  # fmt: skip

    def write_trace(self, path: Any) -> None:
        """Append trace() as one line to the JSONL file at `path`."""
        append_record(self.trace(), path)

    def prompt_ids(self, messages: list[dict[str, Any]] | None = None) -> list[int]:
        """Token ids a model turn gets for `messages` (default: the whole transcript), or for
        a prefix of it: the chat template's rendering of template.render_view."""
        view, tools = render_view(
            self.messages if messages is None else messages,
            self._raw_texts,
            self._tools,
            self._profile,
            self.parser,
            self.assistant_view,
        )
        return self.engine.chat_prompt(view, tools=tools)

    def restore(self, messages: list[dict[str, Any]], raw_texts: dict[int, str],
                failed_call_ids: set[str]) -> list[dict[str, Any]]:
        """Continue from `messages` committed earlier (their assistant messages' raw model
        texts by index, the ids of calls that failed), in place of this new session's own;
        returns the messages appended to make them well-formed (restore.py: every call of the
        last assistant message answered). The engine's KV is not restored: the next turn
        prefills the transcript. InvalidArgumentError if this session already ran, or for
        messages that are not a transcript."""
        if self._metrics.turns or any(m["role"] != "system" for m in self.messages):
            raise InvalidArgumentError(
                f"session {self.session_id!r} already has a conversation to continue")
        self.messages = [dict(m) for m in check_messages(messages)]
        self._raw_texts = {int(i): str(t) for i, t in raw_texts.items()}
        self._failed_call_ids = set(failed_call_ids)
        self._num_call_ids = highest_call_number(self.messages)
        added = [interrupted_message(call_id, name)
                 for call_id, name in unanswered_calls(self.messages)]
        for message in added:
            self._failed_call_ids.add(message["tool_call_id"])
            self._append(message, ok=False)
        if self.speculation is not None:  # the predictor sees the history it would have seen
            for kind, value in tool_history(self.messages, self._failed_call_ids):
                if kind == "user":
                    self.speculation.on_user(value)
                else:
                    self.speculation.on_result(*value)
        return added

    def close(self) -> None:
        """Free the session's parked KV in the engine; the transcript stays readable."""
        if not self._closed:
            self._closed = True
            self.engine.end_session(self.session_id)
            if self.speculation is not None:
                self.speculation.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- the loop ----------------------------------------------------------------------
    def _run_turns(self) -> Generator[SessionEvent, None, Final]:
        for _ in range(self.max_turns):
            restarts = 0
            while True:
                try:
                    answered = yield from self._turn()
                except TurnLostError as exc:  # nothing of it was committed or dispatched
                    if restarts < TURN_RESTARTS and self.engine.wait_ready():
                        restarts += 1
                        yield TurnRestarted(str(exc))
                        continue
                    return Final(f"error: {exc}", "error")
                except ModelTurnError as exc:
                    return Final(f"error: {exc}", "error")
                break
            if answered is not None:
                return Final(answered, "completed")
        return Final(
            f"stopped: the session reached max_turns={self.max_turns} model turns without "
            "a final answer",
            "max_turns",
        )

    def _turn(self) -> Generator[SessionEvent, None, str | None]:
        """One model turn and its tool calls; returns the answer if the turn had no calls."""
        started = now()
        params = self._turn_params
        if callable(params):
            params = params(self.messages)
        if self.speculation is not None:  # staged calls -> the engine's trie matcher
            params = self.speculation.turn_params(params, self.parser,
                                                 getattr(self.engine, "tokenizer", None))
        if self._calls_spec is not None and not params.forced_tokens and params.grammar is None:
            params = replace(params, grammar=self._calls_spec)
        submit = self.speculation.submit if self.speculation is not None else self.executor.submit
        calls = TurnCalls(submit, self.session_id, self._new_call_id)
        calls.early_dispatch = self.early_dispatch
        parser = StreamingToolCallParser(format=self.parser)
        splitter: ReasoningSplitter | None = None
        answer: list[str] = []  # the text outside the thinking, with a splitter
        handle, out = None, None
        num_answered, assistant_index = 0, -1
        try:
            try:
                ids = self.prompt_ids()
                if self.reasoning is not None:
                    splitter = ReasoningSplitter.after_prompt(
                        self.reasoning, ids,
                        lambda t: self.engine.tokenizer.decode(t, skip_special_tokens=False))
                    if params.call_scan is not None:  # the trie never sees the thinking
                        params = replace(params, call_reasoning=_gate(
                            self.engine.tokenizer, self.reasoning, splitter.opened_by_prompt))
                priority = self._turn_priority(started)
                if self.kv_retention:
                    handle = self.engine.submit_turn(
                        self.session_id, ids, params, priority, self.pin_ttl_s
                    )
                else:
                    handle = self.engine.submit(ids, params, priority)
                for out in handle:
                    if self.speculation is not None:  # trie verdicts before the parser's call
                        self.speculation.on_output(out)
                    yield from self._feed(splitter, parser, calls, answer, out.delta)
                    if self.speculation is not None:  # a call's name decoded: its tool's calls
                        self.speculation.on_stream(parser)
            except Exception as exc:  # noqa: BLE001 - any engine failure ends the run cleanly
                if isinstance(exc, EngineRestartingError) and not calls.records:
                    raise TurnLostError(f"the model turn was lost: {exc}") from exc
                raise ModelTurnError(f"the model turn failed: {exc}") from exc
            yield from self._feed(splitter, parser, calls, answer, None)
            for event in parser.close():
                yield from self._on_parser_event(event, calls)
            parsed = parser.finish()
            model_s = now() - started
            if out is None or out.finish_reason == "abort":
                raise ModelTurnError("the model turn was aborted")
            for record in calls.reconcile(parsed):
                yield ToolCallEvent(record.call_id, record.name, record.arguments)
            if not calls.records:
                text = out.text if splitter is None else "".join(answer)
                assistant_index = self._commit_assistant(
                    {"role": "assistant", "content": text}, out.text
                )
                self._record_turn(started, model_s, out, 0, 0.0, assistant_index)
                return text
            message = tool_call_message(parsed.content.strip(), calls.records)
            assistant_index = self._commit_assistant(message, out.text)
            waited = now()
            outcomes = calls.outcomes()
            tool_wait_s = now() - waited
            for outcome in outcomes:
                self._commit_outcome(outcome)
                num_answered += 1
                yield ToolResultEvent(
                    outcome.record.call_id, outcome.ok, outcome.content, outcome.error_kind
                )
            self._record_turn(started, model_s, out, len(outcomes), tool_wait_s, assistant_index)
            self._tools_done_at = now()
            if self.speculation is not None:  # predict the next calls while the model works
                self.speculation.on_turn(len(out.token_ids))
                self.speculation.launch()
            return None
        finally:
            if handle is not None and handle.final is None:
                handle.abort()
            calls.cancel()
            if assistant_index >= 0:  # a consumer left mid-turn: answer every call anyway
                for outcome in calls.outcomes()[num_answered:]:
                    self._commit_outcome(outcome)

    def _feed(self, splitter: ReasoningSplitter | None, parser: StreamingToolCallParser,
              calls: TurnCalls, answer: list[str], delta: str | None) -> Iterator[SessionEvent]:
        """An output delta's events (None: the output ended, the splitter's held text): the
        thinking as ReasoningDelta, the rest through the tool-call parser (`answer` collects
        it)."""
        if splitter is None:
            pieces = [(False, delta)] if delta else []
        else:
            pieces = splitter.feed(delta) if delta is not None else splitter.close()
        for is_reasoning, text in pieces:
            if is_reasoning:
                yield ReasoningDelta(text)
                continue
            answer.append(text)
            for event in parser.feed(text):
                yield from self._on_parser_event(event, calls)

    def _on_parser_event(self, event: Any, calls: TurnCalls) -> Iterator[SessionEvent]:
        if isinstance(event, ContentDelta):
            if event.text:
                yield TokenDelta(event.text)
            return
        record = calls.on_delta(event)
        if record is not None:
            yield ToolCallEvent(record.call_id, record.name, record.arguments)

    def _turn_priority(self, started: float) -> float:
        """Base priority, adjusted by the CoSchedulingPolicy: a turn returning from tools or
        following a user's follow-up (any turn but the session's first) is boosted (aging, its
        expected work and tool time from its recent turns, KV band); a session's first turn is
        lowered only above the band."""
        if self.coscheduling is None:
            return self.priority
        # a session's later turns (after tools, or a user's follow-up) continue a task in
        # flight whose KV is parked: only a session's first turn starts a new one (a turn
        # whose tools landed was recorded before _tools_done_at was set)
        returning = bool(self._metrics.turns)
        waited = started - self._tools_done_at if self._tools_done_at is not None else 0.0
        self._tools_done_at = None
        tokens, tool_s = outlook(self._metrics.turns, self._metrics.tool_s,
                                 self.coscheduling.work_window)
        return float(self.coscheduling.priority(self.priority, returning, waited,
                                                engine_kv_usage(self.engine), tokens, tool_s))

    # ----- bookkeeping -------------------------------------------------------------------
    def _new_call_id(self) -> str:
        self._num_call_ids += 1
        return f"call_{self._num_call_ids}"

    def _append(self, message: dict[str, Any], raw: str | None = None,
                ok: bool | None = None) -> None:
        self.messages.append(message)
        if self.on_commit is not None:
            self.on_commit(message, raw, ok)

    def _commit_assistant(self, message: dict[str, Any], raw_text: str) -> int:
        index = len(self.messages)
        self._raw_texts[index] = raw_text
        self._append(message, raw_text)
        return index

    def _commit_outcome(self, outcome: CallOutcome) -> None:
        self._append(outcome.message(), ok=outcome.ok)
        if self.speculation is not None and outcome.record.future is not None:
            self.speculation.on_result(outcome.record.name, outcome.record.arguments,
                                       outcome.content, outcome.ok)
        call_id = outcome.record.call_id
        self._metrics.num_tool_calls += 1
        if not outcome.ok:
            self._failed_call_ids.add(call_id)
            self._metrics.num_tool_errors += 1
        timings = call_timings(outcome, self._t0)
        if timings is not None:
            self._timings[call_id] = timings
            self._metrics.tool_s += timings["tool_s"]
            self._metrics.queue_s += timings["queue_s"]

    def _record_turn(
        self, started: float, model_s: float, out: Any, num_calls: int, tool_wait_s: float,
        assistant_index: int,
    ) -> None:  # fmt: skip
        turn = TurnMetrics(
            index=len(self._metrics.turns),
            started_at=started - self._t0,
            model_s=model_s,
            ttft_s=out.metrics.get("ttft_s"),
            num_prompt_tokens=out.num_prompt_tokens,
            num_cached_tokens=out.num_cached_tokens,
            num_output_tokens=len(out.token_ids),
            num_tool_calls=num_calls,
            tool_wait_s=tool_wait_s,
            finish_reason=out.finish_reason,
        )
        self._metrics.turns.append(turn)
        self._timings[str(assistant_index)] = {
            "started_at": turn.started_at,
            "model_s": model_s,
            "num_prompt_tokens": turn.num_prompt_tokens,
            "num_cached_tokens": turn.num_cached_tokens,
            "prefix_hit_ratio": turn.prefix_hit_ratio,
        }
