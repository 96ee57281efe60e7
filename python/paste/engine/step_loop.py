"""StepLoop: the loop that steps one EngineCore, fed by commands from callers.

Commands (add, turn, end, abort, stop) are queued from any thread and applied between steps, so
the C++ BatchLoop is only ever touched by the thread running the loop. Each request's outputs
(and the error that ends it) go to its handle's `_queue.put`. If a step raises, every request
in flight receives the error (nothing hangs) and the loop keeps serving new requests.

Two engines run it: Engine (engine.py) on a thread of the caller's process, its handles'
queues read by the callers; and the child of ProcessEngine (process_engine.py), whose handles'
`put` collects the items that `_flush` sends to the parent once per step.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from paste.engine.request import RequestOutput
from paste.errors import PasteError


class EngineStoppedError(PasteError, RuntimeError):
    """The engine was shut down (or its process exited) while a request was waiting."""


class EngineRestartingError(EngineStoppedError):
    """The engine process exited and a new one is starting (ProcessEngine with max_restarts):
    the request was lost, or came before the new process was ready. Nothing of it was
    committed, so submitting it again (after `engine.wait_ready()`) is safe."""


class StepLoop:
    """Subclasses set `self.core` (an EngineCore) before calling `_run`."""

    core: Any

    def __init__(self) -> None:
        self._commands: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._handles: dict[int, Any] = {}  # request id -> handle, while it runs

    def _command(self, cmd: tuple[str, Any]) -> None:
        self._commands.put(cmd)
        self._wake.set()

    def _flush(self, idle: bool) -> None:
        """Called after each round of commands and step outputs (idle: nothing is left to
        step and the loop is about to wait)."""

    def _apply_commands(self) -> bool:
        while True:
            try:
                kind, arg = self._commands.get_nowait()
            except queue.Empty:
                return True
            if kind == "stop":
                return False
            if kind in ("add", "turn"):
                handle = arg[0]
                try:
                    if kind == "add":
                        handle.request = self.core.add_request(*arg[1:])
                    else:
                        handle.request = self.core.continue_session(*arg[1:])
                except Exception as exc:  # noqa: BLE001 - the request fails, the engine lives
                    handle._queue.put(exc)
                    continue
                self._handles[handle.request.request_id] = handle
            elif kind == "end":
                self.core.end_session(arg)
            elif kind == "reset_prefix_cache":
                self.core.reset_prefix_cache()
            elif kind == "lora":  # (load | unload, name, path, done(error or None))
                op, name, path, done = arg
                try:
                    if op == "load":
                        self.core.load_lora(name, path)
                    else:
                        self.core.unload_lora(name)
                except Exception as exc:  # noqa: BLE001 - the caller hears why; engine lives
                    done(exc)
                else:
                    done(None)
            elif kind == "abort":
                handle = arg
                if handle.request is not None and not handle.request.finished:
                    self.core.abort(handle.request)
                    self._deliver(handle.request.output())

    def _deliver(self, out: RequestOutput) -> None:
        handle = self._handles.get(out.request_id)
        if handle is None:
            return
        handle._queue.put(out if out.error is None else out.error)
        if out.finished:
            del self._handles[out.request_id]

    def _run(self) -> None:
        while True:
            if not self._apply_commands():
                break
            if not self.core.has_unfinished():
                self._flush(idle=True)
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                outputs = self.core.step()
            except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
                self._fail_all(exc)
                self._flush(idle=False)
                continue
            for out in outputs:
                self._deliver(out)
            self._flush(idle=False)
        self._fail_all(EngineStoppedError("the engine was shut down"))
        self._flush(idle=True)

    def _fail_all(self, exc: BaseException) -> None:
        for handle in list(self._handles.values()):
            if handle.request is not None and not handle.request.finished:
                try:
                    self.core.abort(handle.request)
                except PasteError:
                    pass
            handle._queue.put(exc)
        self._handles.clear()
