"""JobRun: the life of one admitted job, from its lane slot to its ToolResult.

    submit -> queued --lane slot--> running --+--> value / raise --> ToolResult (ok / tool_error)
                |                             +--> timeout ---------> ToolResult (timeout)
                +--cancel--> ToolResult (cancelled, never started)

Execution by mode: sync tools run on the executor's thread pool and are timed by a timer on the
executor's event loop (on timeout the future completes at once; the thread cannot be stopped,
its late result is discarded and its lane slot is freed only when it returns). Async and MCP
tools run as tasks on that loop; timeout or cancel completes the future at once and cancels the
task (its slot is freed when the task has ended). Process tools run in a child process watched
by a pool thread; timeout or cancel kills it.

The lane slot is released exactly once, when the work really stopped; the future is completed
exactly once, by whichever of finish / timeout / cancel comes first.

A speculative job of a side-effecting call whose tool has a transaction runs the transaction
(paste.tools.transaction): its Staged value is rendered as the result and its effects ride on
the future (take_effects); effects that arrive after the future was completed (cancel, timeout)
or with a failed result are discarded here.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import TYPE_CHECKING, Any

from paste.tools.errors import McpToolError, ResultSerializationError
from paste.tools.future import ToolFuture
from paste.tools.lanes import ConcurrencyLane
from paste.tools.process_runner import ProcessRun
from paste.tools.results import ErrorKind, ToolResult, render_result, truncate_content
from paste.tools.spec import ToolSpec
from paste.tools.transaction import Staged

if TYPE_CHECKING:
    from paste.tools.executor import ToolExecutor


class JobRun:
    """One validated job of one tool; created by ToolExecutor.submit."""

    def __init__(
        self,
        executor: ToolExecutor,
        future: ToolFuture,
        spec: ToolSpec,
        kwargs: dict[str, Any],
        lane: ConcurrencyLane,
    ) -> None:
        self._executor = executor
        self.future = future
        self.spec = spec
        self._kwargs = kwargs
        self._lane = lane
        self.job_id = lane.new_job_id()  # this job's id in its lane's DispatchQueue
        job = future.job
        self._timeout_s = job.timeout_s if job.timeout_s is not None else spec.timeout_s
        self._use_transaction = job.speculative and spec.runs_transaction(kwargs)
        self._use_sandbox = (job.speculative and spec.sandbox is not None
                             and not self._use_transaction)
        self._lock = threading.Lock()
        self._phase = "queued"  # queued -> running -> ended (or queued -> ended by cancel)
        self._started_at: float | None = None
        self._task: Any = None  # concurrent.futures.Future of the async task
        self._process: ProcessRun | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- admission ----------------------------------------------------------------------------

    def start(self) -> None:
        """Called by the lane with a slot taken; dispatches to the mode's runner."""
        with self._lock:
            if self._phase != "queued":  # cancelled while the lane handed it a slot
                self._lane.release()
                return
            self._phase = "running"
            self._started_at = time.monotonic()
            self.future._mark_started(self._started_at)
        try:
            if self.spec.isolation == "process":
                self._executor._pool.submit(self._run_process)
            elif self.spec.is_async:
                task = self._executor._loop.submit(self._run_async())
                with self._lock:
                    self._task = task
                    cancelled = self._phase == "ended" and self.future.done()
                if cancelled:  # cancel() ran before the task handle existed
                    task.cancel()
            else:
                self._executor._pool.submit(self._run_sync)
                self._executor._loop.call_soon(self._arm_timer)
        except Exception as e:  # pool or loop already shut down
            self._lane.release()
            self.end("cancelled", f"tool call {self.future.call_id!r} was cancelled: {e}")

    def withdraw(self) -> bool:
        """Cancel the job only if it is still queued; True if this call withdrew it. The
        lane's queue decides atomically between this and the job's start, so a withdrawn job
        never runs and a started one is left running (used to promote queued speculative work)."""
        if not self._lane.withdraw(self.job_id):
            return False
        with self._lock:
            self._phase = "ended"
        return self.end("cancelled", f"tool call {self.future.call_id!r} was withdrawn")

    def promote(self) -> bool:
        """Move this queued speculative job to its tool's authoritative lane, keeping its call id
        and future; True if moved. False when it is not queued speculatively any more, or when
        it would run the tool's sandbox or transaction (their results never stand in for the
        real call)."""
        if self._use_sandbox or self._use_transaction:
            return False
        return self._lane.promote(self.job_id)

    def cancel(self, reason: str = "") -> bool:
        """Stop the job if possible and complete it as cancelled; True if this ended it."""
        with self._lock:
            phase, self._phase = self._phase, "ended"
            task, process = self._task, self._process
        suffix = f": {reason}" if reason else ""
        ended = self.end("cancelled", f"tool call {self.future.call_id!r} was cancelled{suffix}")
        if phase == "queued":  # a lost race with the start is handled by start()
            self._lane.withdraw(self.job_id)
        elif phase == "running":  # the future is already complete: stop the work behind it
            if task is not None:
                task.cancel()
            if process is not None:
                process.kill()
        return ended

    # -- runners ------------------------------------------------------------------------------

    def _target(self) -> Any:
        if self._use_transaction:
            transaction = self.spec.transaction
            return lambda kwargs: transaction(**kwargs)  # type: ignore[misc]
        if self._use_sandbox:
            sandbox = self.spec.sandbox
            return lambda kwargs: sandbox(**kwargs)  # type: ignore[misc]
        return self.spec.invoke

    def _run_sync(self) -> None:
        with self._lock:
            skip = self._phase != "running"
        if skip:  # cancelled or timed out while waiting for a pool thread: never run it
            self._lane.release()
            return
        effects = None
        try:
            value = self._target()(self._kwargs)
            kind, text, effects = self._staged(value)
        except BaseException as e:  # noqa: B036 - a tool's SystemExit must not kill the worker
            kind, text = self._raised(e)
        finally:
            self._lane.release()
        self.end(kind, text, effects)

    def _arm_timer(self) -> None:  # on the loop thread
        with self._lock:
            if self._phase == "running" and not self.future.done():
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(self._timeout_s, self._on_timeout)

    def _on_timeout(self) -> None:  # on the loop thread; the sync thread is abandoned
        self.end("timeout", self._timeout_message())

    async def _run_async(self) -> None:
        task: asyncio.Future[Any] | None = None
        effects = None
        try:
            task = asyncio.ensure_future(self._target()(self._kwargs))
            done, _ = await asyncio.wait({task}, timeout=self._timeout_s)
            if done:
                kind, text, effects = self._staged(task.result())
            else:
                kind, text = "timeout", self._timeout_message()
        except asyncio.CancelledError:
            kind, text = "cancelled", f"tool call {self.future.call_id!r} was cancelled"
        except Exception as e:
            kind, text = self._raised(e)
        if task is None or task.done():
            self._lane.release()
            self.end(kind, text, effects)
            return
        # Timed out or cancelled: answer the caller now, keep the slot until the task has ended.
        self.end(kind, text)
        task.cancel()
        try:
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is None:  # the tool ignored the cancel
                late = task.result()
                if isinstance(late, Staged):
                    late.discard()
        finally:
            self._lane.release()

    def _run_process(self) -> None:
        target = self.spec.sandbox if self._use_sandbox else self.spec.target
        process = ProcessRun(target, self._kwargs, self._executor._mp_context)  # type: ignore[arg-type]
        with self._lock:
            cancelled = self._phase != "running"
            self._process = process
        try:
            if cancelled:
                process.kill()
            process.start()
            outcome = process.wait(self._timeout_s)
            name = self.spec.name
            if outcome.kind == "ok":
                kind, text = self._rendered(outcome.text)
            elif outcome.kind == "error":
                kind, text = "tool_error", f"tool {name!r} raised {outcome.text}"
            elif outcome.kind == "timeout":
                kind, text = "timeout", self._timeout_message()
            elif outcome.kind == "crashed":
                kind, text = "crashed", f"tool {name!r} crashed: {outcome.text}"
            else:
                kind, text = "cancelled", f"tool call {self.future.call_id!r} was cancelled"
        except Exception as e:  # pickling the target or arguments, fork/spawn failure
            kind, text = "tool_error", f"tool {self.spec.name!r} could not start its process: {e}"
        finally:
            self._lane.release()
        self.end(kind, text)

    # -- outcomes -----------------------------------------------------------------------------

    def _staged(self, value: Any) -> tuple[str, str, Staged | None]:
        """_rendered, unwrapping a transaction's Staged (its effects come back beside)."""
        if not self._use_transaction:
            return (*self._rendered(value), None)
        if not isinstance(value, Staged):
            return ("tool_error", f"the transaction of tool {self.spec.name!r} returned "
                    f"{type(value).__name__}, not a Staged", None)
        kind, text = self._rendered(value.value)
        return kind, text, value

    def _rendered(self, value: Any) -> tuple[str, str]:
        if inspect.isawaitable(value):  # a sync function returned a coroutine: never awaited
            getattr(value, "close", lambda: None)()
            return "tool_error", f"tool {self.spec.name!r} returned an awaitable from a sync call"
        try:
            return "ok", render_result(value)
        except ResultSerializationError as e:
            return "tool_error", f"tool {self.spec.name!r} returned an unrenderable result: {e}"

    def _raised(self, error: BaseException) -> tuple[str, str]:
        if isinstance(error, McpToolError):
            return "tool_error", f"tool {self.spec.name!r} returned an error: {error}"
        return "tool_error", f"tool {self.spec.name!r} raised {type(error).__name__}: {error}"

    def _timeout_message(self) -> str:
        return f"tool {self.spec.name!r} timed out after {self._timeout_s:g} s"

    def end(self, kind: str, text: str, effects: Staged | None = None) -> bool:
        """Complete the future (first call wins); `text` is the content or the error message.
        `effects` (a transaction's) go with an ok result; otherwise, or if the future was
        completed already, they are discarded."""
        finished_at = time.monotonic()
        with self._lock:
            self._phase = "ended"
            timer, self._timer = self._timer, None
            started_at = self._started_at if self._started_at is not None else finished_at
        if timer is not None:
            self._executor._loop.call_soon(timer.cancel)
        if kind == "ok":
            content, dropped = truncate_content(text, self._executor.max_result_bytes)
            error_kind: ErrorKind | None = "truncated" if dropped else None
            error = (
                f"result of tool {self.spec.name!r} exceeded {self._executor.max_result_bytes} "
                f"bytes; {dropped} bytes were cut"
                if dropped
                else None
            )
            ok = True
        else:
            content, error, error_kind, ok = text, text, kind, False  # type: ignore[assignment]
        result = ToolResult(
            call_id=self.future.call_id,
            name=self.spec.name,
            ok=ok,
            content=content,
            error=error,
            error_kind=error_kind,
            started_at=started_at,
            finished_at=finished_at,
            queue_s=started_at - self.future.submitted_at,
            tool_s=finished_at - started_at,
        )
        completed = self.future._complete(result, effects if ok else None)
        if completed:
            self._executor._forget(self)
        if effects is not None and not (completed and ok):
            effects.discard()
        return completed
