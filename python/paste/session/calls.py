"""The tool calls of one model turn: dispatched early, reconciled, answered in call order.

A call is submitted to the ToolExecutor the moment the streaming parser announces it complete
(paste.parsing guarantees a call is announced only once its text is complete and valid), while
the model may still be generating the rest of the turn. When the turn ends, the parser's final
list of calls is authoritative: an early job that does not match it (which the parsing contract
rules out, but a future parser could stream fragments) is cancelled and the call re-submitted.
Malformed call text (parser errors) becomes a record without a job whose result is an error
message for the model. Results are committed in call order, malformed calls last.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paste.parsing import ParsedOutput, ToolCallDelta
from paste.tools import ToolFuture, ToolJob, ToolResult

MALFORMED_KIND = "malformed_call"
MALFORMED_PREFIX = "error: the tool call could not be parsed: "


@dataclass
class CallRecord:
    """One call of a turn; `future` is None for malformed call text (`error` says why)."""

    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    future: ToolFuture | None = None
    error: str | None = None


@dataclass(frozen=True)
class CallOutcome:
    """What the transcript receives for one call."""

    record: CallRecord
    ok: bool
    content: str
    error_kind: str | None
    result: ToolResult | None  # None for malformed calls

    def message(self) -> dict[str, Any]:
        """The OpenAI `tool` message answering the call."""
        message: dict[str, Any] = {"role": "tool", "tool_call_id": self.record.call_id}
        if self.record.future is not None:
            message["name"] = self.record.name
        message["content"] = self.content
        return message


class TurnCalls:
    """Calls of one turn. Used by one thread (the session's); results arrive from executors."""

    def __init__(
        self, submit: Callable[[ToolJob], Any], session_id: str, next_call_id: Callable[[], str]
    ) -> None:
        """submit: ToolExecutor.submit, or SessionSpeculation.submit (a staged speculative
        result may answer the call); either returns a future with result()/done()/cancel()."""
        self._submit = submit
        self.early_dispatch = True  # False: calls are submitted only when the turn ends
        self._session_id = session_id
        self._next_call_id = next_call_id
        self._fragments: dict[int, list[str]] = {}  # index -> [name, arguments text]
        self.records: list[CallRecord] = []

    def on_delta(self, delta: ToolCallDelta) -> CallRecord | None:
        """Accumulate a call delta; returns the record if this delta completed the call."""
        parts = self._fragments.setdefault(delta.index, ["", ""])
        if delta.name is not None:
            parts[0] = delta.name
        parts[1] += delta.arguments
        if not self.early_dispatch or delta.index != len(self.records):
            return None  # dispatched at the turn's end, already dispatched, or one pending
        try:
            arguments = json.loads(parts[1]) if parts[1].strip() else {}
        except json.JSONDecodeError:
            return None  # not complete yet
        if not isinstance(arguments, dict) or not parts[0]:
            return None
        return self._dispatch(parts[0], arguments)

    def reconcile(self, parsed: ParsedOutput) -> list[CallRecord]:
        """Make `records` equal the final calls plus malformed ones; returns records that were
        dispatched only now (their ToolCallEvents are still to be announced)."""
        early, self.records = self.records, []
        new: list[CallRecord] = []
        for i, call in enumerate(parsed.calls):
            record = early[i] if i < len(early) else None
            if record is not None and (record.name, record.arguments) == (
                call.name,
                call.arguments,
            ):
                self.records.append(record)
                continue
            if record is not None and record.future is not None:
                record.future.cancel()
            new.append(self._dispatch(call.name, call.arguments))
        for record in early[len(parsed.calls) :]:
            if record.future is not None:
                record.future.cancel()
        for error in parsed.errors:
            self.records.append(CallRecord(self._next_call_id(), "", error=error))
        return new

    def outcomes(self) -> list[CallOutcome]:
        """Wait for every job (tool timeouts bound the wait) and return outcomes in order."""
        return [self._outcome(record) for record in self.records]

    def cancel(self) -> None:
        """Cancel every job that is still running (their futures complete as cancelled)."""
        for record in self.records:
            if record.future is not None and not record.future.done():
                record.future.cancel()

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> CallRecord:
        record = CallRecord(self._next_call_id(), name, arguments)
        job = ToolJob(record.call_id, name, arguments, session_id=self._session_id)
        record.future = self._submit(job)
        self.records.append(record)
        return record

    @staticmethod
    def _outcome(record: CallRecord) -> CallOutcome:
        if record.future is None:
            text = MALFORMED_PREFIX + (record.error or "")
            return CallOutcome(record, False, text, MALFORMED_KIND, None)
        result = record.future.result()
        return CallOutcome(record, result.ok, result.content, result.error_kind, result)


def tool_call_message(content: str, records: list[CallRecord]) -> dict[str, Any]:
    """The OpenAI assistant message of a turn; `tool_calls` only when a call was well-formed."""
    calls = [
        {
            "id": r.call_id,
            "type": "function",
            "function": {"name": r.name, "arguments": json.dumps(r.arguments, ensure_ascii=False)},
        }
        for r in records
        if r.future is not None
    ]
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return message


def call_timings(outcome: CallOutcome, t0: float) -> dict[str, float] | None:
    """Trace timings of one executed call, times relative to the session start `t0`."""
    result, future = outcome.result, outcome.record.future
    if result is None or future is None:
        return None
    return {
        "started_at": result.started_at - t0,
        "queue_s": result.queue_s,
        "tool_s": result.tool_s,
        "observed_s": max(0.0, result.finished_at - future.submitted_at),
        "dispatched_at": future.submitted_at - t0,
    }


def now() -> float:
    """The session clock: time.monotonic(), the clock ToolResult times use."""
    return time.monotonic()
