"""ToolExecutor: runs tool calls and turns every outcome into a ToolResult.

`submit` never blocks and never raises for a bad call: an unknown tool, arguments that are not
JSON or fail the schema, and speculative jobs the tool forbids complete the future at once (with
queue_s == tool_s == 0); everything else is admitted through the tool's ConcurrencyLane (a
native two-lane DispatchQueue per tool, lanes.py) and run by a JobRun (see job_run.py for the
per-mode mechanics). A job whose lane already holds `max_queued_per_tool` waiting jobs completes
at once with error_kind "queue_full". Results are rendered to text and cut to
`max_result_bytes` (UTF-8) with an explicit "…[truncated N bytes]" marker.

Lifetime: the executor owns a thread pool (sync tools, process watchers), one event-loop thread
(async and MCP tools, sync timeouts) and the child processes of process-isolated tools, from
construction until shutdown(). It does not own the registry.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import threading
import time
from collections.abc import Mapping
from typing import Any

from paste.errors import InvalidArgumentError, QueueFullError
from paste.tools.errors import ExecutorClosedError, ToolArgumentsError, UnknownToolError
from paste.tools.future import ToolFuture
from paste.tools.job_run import JobRun
from paste.tools.lanes import DEFAULT_MAX_QUEUED, ConcurrencyLane
from paste.tools.loop_thread import LoopThread
from paste.tools.registry import ToolRegistry
from paste.tools.results import ErrorKind, ToolJob, ToolResult

DEFAULT_MAX_RESULT_BYTES = 64 * 1024


class ToolExecutor:
    """Runs ToolJobs of one registry. Thread-safe: any thread may submit, cancel or wait."""

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        max_workers: int = 32,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        mp_start_method: str = "spawn",
        max_queued_per_tool: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        if max_workers < 1:
            raise InvalidArgumentError(f"max_workers must be >= 1, got {max_workers}")
        if max_result_bytes < 1:
            raise InvalidArgumentError(f"max_result_bytes must be >= 1, got {max_result_bytes}")
        if max_queued_per_tool < 1:
            raise InvalidArgumentError(
                f"max_queued_per_tool must be >= 1, got {max_queued_per_tool}"
            )
        self.registry = registry
        self.max_result_bytes = max_result_bytes
        self.max_queued_per_tool = max_queued_per_tool
        self._mp_context = multiprocessing.get_context(mp_start_method)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, "paste-tool")
        self._loop = LoopThread("paste-tool-loop")
        self._lock = threading.Lock()
        self._lanes: dict[str, ConcurrencyLane] = {}
        self._active: set[JobRun] = set()
        self._closed = False

    def submit(self, job: ToolJob) -> ToolFuture:
        """Start (or queue) the job and return its future; raises only ExecutorClosedError."""
        future = ToolFuture(job, time.monotonic())
        with self._lock:
            if self._closed:
                raise ExecutorClosedError(f"cannot submit {job.call_id!r}: executor is shut down")
        try:
            spec = self.registry.get(job.name)
        except UnknownToolError:
            names = self.registry.names()
            known = f"available tools: {', '.join(names)}" if names else "no tools are registered"
            return _fail_now(future, "unknown_tool", f"unknown tool {job.name!r}; {known}")
        try:
            kwargs = spec.validator.validate(_parse_arguments(job.arguments))
        except ToolArgumentsError as e:
            message = f"invalid arguments for tool {spec.name!r}: {e}"
            return _fail_now(future, "invalid_arguments", message, spec.name)
        if job.speculative and not spec.may_speculate(kwargs):
            message = f"tool {spec.name!r} may not run speculatively with these arguments"
            return _fail_now(future, "not_speculable", message, spec.name)
        with self._lock:
            lane = self._lanes.get(spec.name)
            if lane is None:
                lane = ConcurrencyLane(spec.max_concurrency, self.max_queued_per_tool)
                self._lanes[spec.name] = lane
            run = JobRun(self, future, spec, kwargs, lane)
            self._active.add(run)
        future._set_canceller(run.cancel)
        future._set_withdrawer(run.withdraw)
        future._set_promoter(run.promote)
        try:
            lane.submit(run.job_id, run.start, speculative=job.speculative)
        except QueueFullError:
            kind = "speculative" if job.speculative else "authoritative"
            run.end(
                "queue_full",
                f"the {kind} queue of tool {spec.name!r} is full ({lane.max_queued} waiting calls); "
                f"call {job.call_id!r} was not run",
            )
        return future

    def num_running(self, name: str) -> int:
        """Jobs of tool `name` holding a concurrency slot (including abandoned sync threads)."""
        lane = self._lanes.get(name)
        return lane.num_running if lane is not None else 0

    def num_waiting(self, name: str) -> int:
        """Jobs of tool `name` queued behind its max_concurrency."""
        lane = self._lanes.get(name)
        return lane.num_waiting if lane is not None else 0

    def shutdown(self, wait: bool = True) -> None:
        """Cancel every unfinished job, stop the loop, kill child processes, stop the pool.

        With wait=True, blocks until pool threads end; a sync tool that never returns would
        block forever, so pass wait=False when one may hang. Idempotent.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            runs = list(self._active)
        for run in runs:
            run.cancel("executor shut down")
        self._loop.close()
        # Queued pool items are not cancelled: each is a JobRun runner of a job that is ended by
        # now, which only gives its lane slot back (cancelling it would keep that slot forever).
        self._pool.shutdown(wait=wait)

    def __enter__(self) -> ToolExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _forget(self, run: JobRun) -> None:
        with self._lock:
            self._active.discard(run)


def _parse_arguments(arguments: Mapping[str, Any] | str) -> Mapping[str, Any]:
    """The model's arguments as a mapping; JSON text is decoded (empty text means {})."""
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as e:
            raise ToolArgumentsError(f"not valid JSON ({e.msg} at position {e.pos})") from None
    if not isinstance(arguments, Mapping):
        raise ToolArgumentsError(f"expected a JSON object, got {type(arguments).__name__}")
    return arguments


def _fail_now(
    future: ToolFuture, kind: ErrorKind, message: str, name: str | None = None
) -> ToolFuture:
    """Complete a future that never started: zero queue and tool time."""
    now = future.submitted_at
    future._complete(
        ToolResult(
            call_id=future.call_id,
            name=name if name is not None else future.job.name,
            ok=False,
            content=message,
            error=message,
            error_kind=kind,
            started_at=now,
            finished_at=now,
            queue_s=0.0,
            tool_s=0.0,
        )
    )
    return future
