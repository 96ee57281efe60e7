"""ProcessEngine: the Engine's front with its core in a child process of its own.

Why: an engine thread shares its process's GIL. Beside a thread that runs Python (HTTP
handlers, Python tools, online learning) it gets the GIL back only at each switch interval, and
decoding slows many times over (bench/bench_gil.py). In a child process the step loop has an
interpreter to itself, as vLLM's V1 runs its engine core.

How: the child (a fresh interpreter, `python -m paste.engine.process_child FD`: safe beside the
parent's threads, and it never re-runs the caller's main script as a multiprocessing spawn
would; process_child.py) loads the model and runs the same StepLoop as Engine (step_loop.py).
The parent keeps the tokenizer, so prompts are encoded and rendered where they are submitted.
One duplex pipe carries, parent -> child, the commands `("add", hid, prompt ids, params,
priority)`, `("turn", hid, session key, ids, params, priority, pin ttl)`, `("abort", hid)`,
`("end", session key)`, `("reset_prefix_cache",)`, `("stop",)` and LoRA ops (lora_ops.py);
child -> parent, once per step with anything to say, `("out", [(hid, RequestOutput | error),
...], EngineStats)`, and LoRA op answers. A RequestOutput crosses as a plain tuple with only
the token ids and logprobs added since the request's previous output, its prompt logprobs in
its first output only, and its text only when that is not the deltas so far; the parent
rebuilds the RequestOutput, so a handle reads exactly what Engine gives.
A thread on each side reads the pipe; neither side's sends wait on the other's step.

Failure: an error the child cannot pickle arrives as EngineProcessError with its type and
message. If the child exits (killed, crashed), every request in flight gets an error naming its
exit code; nothing hangs. With `max_restarts` (paste serve: --engine-restarts) the parent then
starts a new child. A request in flight that had given its caller nothing yet (queued, or in
its prefill) is sent to the new child as it was submitted, once: its caller only waits longer
(a request lost in two exits fails, so a request that kills its process cannot use up every
restart). A request that had given output, and any submitted until the new child is ready, get
EngineRestartingError (an EngineStoppedError that says "submit it again"; wait_ready() waits
for the new child). A session's KV parked in the dead child is gone, but its transcript lives
in the caller, and submit_turn sends the whole conversation: its next turn prefills it again.
Once `max_restarts` restarts happened within `restart_window_s`, the next exit is final:
EngineStoppedError from then on. A hung child (a step that never ends) would hang its requests
instead; with `step_timeout_s` a watchdog kills a child that has requests and sends nothing
for that long (it sends every step, or a sign of life each BEAT_S while its steps have nothing
to say), and the exit is handled as above.
"""

from __future__ import annotations

import multiprocessing.connection
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from paste.engine.config import EngineConfig
from paste.engine.engine import EngineFront, RequestHandle, resolve_config
from paste.engine.lora_ops import LoraOps
from paste.engine.process_child import BEAT_S, EngineProcessError
from paste.engine.request import GenerationParams, RequestOutput
from paste.engine.stats import EngineStats
from paste.engine.step_loop import EngineRestartingError, EngineStoppedError
from paste.errors import InvalidArgumentError, PasteError

START_TIMEOUT_S = 900.0  # model load and matmul tuning of a large model on a slow CPU


# ----- parent process ----------------------------------------------------------------------
@dataclass
class _Flight:
    """A request the parent sent and whose last output has not come back yet."""

    handle: RequestHandle
    msg: tuple[Any, ...]  # as sent: sent again to a new child when nothing was delivered
    logprobs: list[Any] | None
    prompt_logprobs: list[Any] | None = None  # as the first output brought them
    tokens: list[int] = field(default_factory=list)  # token ids so far
    text: list[str] = field(default_factory=list)  # text deltas so far
    delivered: bool = False  # an output reached the caller
    resent: bool = False  # already sent to a second child


def start_child(folder: Path, config: EngineConfig, timeout_s: float) -> tuple[Any, Any, Any]:
    """A new engine process, ready: (connection, Popen, its "ready" message); raises the
    child's own error when the model cannot load, EngineStoppedError when it exits first or
    is not ready within `timeout_s`."""
    conn, child_conn = multiprocessing.Pipe()
    fd = child_conn.fileno()
    process = subprocess.Popen(
        [sys.executable, "-m", "paste.engine.process_child", str(fd)], pass_fds=(fd,))
    child_conn.close()
    try:
        conn.send(("start", str(folder), config))
        deadline = time.monotonic() + timeout_s
        while not conn.poll(0.1):
            if process.poll() is not None:
                break
            if time.monotonic() > deadline:
                raise EngineStoppedError(f"the engine process was not ready in {timeout_s} s")
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            raise EngineStoppedError(f"the engine process exited (code {process.wait()}) "
                                     "before it was ready") from None
        if msg[0] == "error":
            raise msg[1]
    except BaseException:
        conn.close()
        process.kill()
        process.wait()
        raise
    return conn, process, msg


class ProcessEngine(EngineFront):
    """Engine's interface (submit, submit_turn, end_session, stats, generate, stream,
    open_session, shutdown) with the model and step loop in a child process.

    max_restarts: how many times a child that exits is replaced by a new one within
    restart_window_s (0: its exit stops the engine for good). The requests in flight that had
    given no output yet are sent to the new one, once (`num_resubmitted` counts them).
    step_timeout_s: a child that has requests but sends nothing for this long (it reports
    each step, or once a second while its steps have nothing to say) is hung: it is killed,
    and restarted as if it had exited. None: no watchdog. It must exceed the longest step."""

    def __init__(self, model: str | None = None, config: EngineConfig | None = None,
                 start_timeout_s: float = START_TIMEOUT_S, max_restarts: int = 0,
                 restart_window_s: float = 600.0, step_timeout_s: float | None = None,
                 **overrides: Any) -> None:
        from paste.engine.model_runner import load_tokenizer
        from paste.models.store import resolve_model

        if max_restarts < 0 or restart_window_s <= 0:
            raise InvalidArgumentError(
                f"max_restarts must be >= 0 and restart_window_s > 0, got {max_restarts} and "
                f"{restart_window_s}")
        if step_timeout_s is not None and not step_timeout_s > 2 * BEAT_S:
            raise InvalidArgumentError(
                f"step_timeout_s must be > {2 * BEAT_S:g} s (or None), got {step_timeout_s}")
        self.config = resolve_config(model, config, overrides)
        self._folder = resolve_model(self.config.model)
        self.tokenizer = load_tokenizer(self._folder)
        self._start_timeout_s = start_timeout_s
        self.max_restarts, self.restart_window_s = max_restarts, restart_window_s
        self._restarted_at: list[float] = []  # monotonic times of every restart
        self._lock = threading.Lock()  # guards the state below and sends
        self._handles: dict[int, _Flight] = {}  # hid -> request in flight
        self._lora_ops = LoraOps()  # LoRA loads / unloads not answered yet (lora_ops.py)
        self.num_resubmitted = 0  # requests sent again to a new child
        self._next_hid = 0
        self._stopped = False
        self._death: str | None = None  # why the engine stopped for good
        self._restarting: str | None = None  # why a new child is starting
        self._ready = threading.Event()  # set unless a new child is starting
        self._ready.set()
        self.step_timeout_s = step_timeout_s
        self._last_heard = time.monotonic()  # the child's latest message, or work arriving
        self._hung: str | None = None  # why the watchdog killed the child
        self._conn, self._process, ready = start_child(self._folder, self.config,
                                                       start_timeout_s)
        self.info, self._stats = ready[1], ready[2]
        self._reader = threading.Thread(target=self._read, name="paste-engine-results",
                                        daemon=True)
        self._reader.start()
        if step_timeout_s is not None:
            threading.Thread(target=self._watch, args=(step_timeout_s,),
                             name="paste-engine-watchdog", daemon=True).start()

    @property
    def pid(self) -> int | None:
        """The engine process's pid."""
        return self._process.pid

    # ----- submission (any thread) -------------------------------------------------------
    def submit(self, prompt: str | Sequence[int], params: GenerationParams | None = None,
               priority: float = 0.0) -> RequestHandle:
        params = params or GenerationParams()
        return self._submit("add", params, (self.encode(prompt), params, priority))

    def submit_turn(self, session_key: str, conversation: Sequence[int],
                    params: GenerationParams | None = None, priority: float = 0.0,
                    pin_ttl_s: float = 30.0) -> RequestHandle:
        """As Engine.submit_turn: the session's KV stays parked in the engine process."""
        params = params or GenerationParams()
        return self._submit("turn", params, (session_key, [int(t) for t in conversation],
                                             params, priority, pin_ttl_s))

    def _submit(self, kind: str, params: GenerationParams,
                args: tuple[Any, ...]) -> RequestHandle:
        handle = RequestHandle(self)
        with self._lock:
            self._check_running()
            if not self._handles:  # the child had nothing to do: its silence starts now
                self._last_heard = time.monotonic()
            hid = handle.hid = self._next_hid
            self._next_hid += 1
            msg = (kind, hid, *args)
            self._handles[hid] = _Flight(handle, msg, None if params.logprobs is None else [])
            try:
                self._send_locked(msg)
            except EngineStoppedError:
                self._handles.pop(hid, None)
                raise
            except Exception as exc:  # pickling: nothing was written, the engine lives on
                del self._handles[hid]
                raise EngineProcessError(
                    f"the request cannot be sent to the engine process: {exc}") from None
        return handle

    def end_session(self, session_key: str) -> None:
        """Frees the session's retained KV (idempotent; a no-op while the engine process is
        gone, which took the KV with it)."""
        with self._lock:
            if self.failure is None:
                try:
                    self._send_locked(("end", session_key))
                except EngineStoppedError:  # the process is gone, and the KV with it
                    pass

    def reset_prefix_cache(self) -> None:
        """Engine.reset_prefix_cache in the child, before any request sent after this call (a
        no-op while the engine process is gone: a new one starts with an empty cache)."""
        with self._lock:
            if self.failure is None:
                try:
                    self._send_locked(("reset_prefix_cache",))
                except EngineStoppedError:
                    pass

    def load_lora_adapter(self, name: str, path: str) -> None:
        """Engine.load_lora_adapter in the child; a child started after it (a restart)
        loads the adapter too."""
        self._lora_op("load", name, path)

    def unload_lora_adapter(self, name: str) -> None:
        """Engine.unload_lora_adapter in the child (and in any child started after it)."""
        self._lora_op("unload", name, None)

    def lora_adapters(self) -> tuple[tuple[str, str], ...]:
        """The LoRA adapters served now, as (name, path)."""
        return self.config.lora_modules

    def _lora_op(self, op: str, name: str, path: str | None) -> None:
        self.wait_ready()
        with self._lock:
            if self.failure is not None:
                raise EngineStoppedError(self.failure)
            op_id, done = self._lora_ops.start(op, name, path)
            try:
                self._send_locked(("lora", op_id, op, name, path))
            except PasteError:
                self._lora_ops.cancel(op_id)
                raise
        done.result()

    def _command(self, cmd: tuple[str, Any]) -> None:
        """RequestHandle.abort's way in."""
        kind, handle = cmd
        with self._lock:
            if kind != "abort" or handle.hid not in self._handles:
                return
            if self._restarting is not None:  # kept for the new child: not sent to it
                del self._handles[handle.hid]
                handle._queue.put(EngineRestartingError(
                    f"{self._restarting}; the request was aborted while it waited for it"))
            elif self.failure is None:
                try:
                    self._send_locked(("abort", handle.hid))
                except EngineStoppedError:  # the process is gone: the reader fails it
                    pass

    def stats(self) -> EngineStats:
        """The state the engine process sent with its latest step."""
        return self._stats

    @property
    def failure(self) -> str | None:
        if self._death is not None:
            return self._death
        if self._stopped:
            return "the engine is shut down"
        return self._restarting

    @property
    def num_restarts(self) -> int:
        """How many times a new engine process replaced one that exited."""
        return len(self._restarted_at)

    @property
    def restarting(self) -> bool:
        """Whether a new engine process is starting in place of one that exited."""
        return self._restarting is not None

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """Waits while a new engine process starts; True if the engine can serve. (An exit
        not yet seen, before any EngineRestartingError or `restarting`, is not waited for.)"""
        self._ready.wait(timeout_s)
        return self.failure is None

    def shutdown(self) -> None:
        with self._lock:
            if not self._stopped:
                self._stopped = True
                try:
                    self._conn.send(("stop",))
                except OSError:
                    pass
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=30)
        self._fail_all("the engine is shut down")

    def _check_running(self) -> None:
        failure = self.failure
        if failure is not None:
            error = EngineStoppedError if self._restarting is None else EngineRestartingError
            raise error(failure)

    def _send_locked(self, msg: tuple[Any, ...]) -> None:
        try:
            self._conn.send(msg)
        except OSError:  # the child is gone: the reader restarts it or ends the engine
            if self._may_restart_locked():
                self._ready.clear()  # wait_ready waits for the reader to see the exit
                raise EngineRestartingError("the engine process exited; it is restarting") \
                    from None
            raise EngineStoppedError("the engine process exited") from None

    # ----- reader thread -----------------------------------------------------------------
    def _read(self) -> None:
        """Reads the child's outputs; when it exits, restarts it or ends the engine."""
        while True:
            try:
                while True:
                    kind, items, stats = self._conn.recv()
                    self._last_heard = time.monotonic()
                    if kind == "lora":
                        with self._lock:
                            for op_id, error in items:
                                self.config = replace(self.config, lora_modules=(
                                    self._lora_ops.answer(op_id, error, self.config.lora_modules)))
                        continue
                    if stats is not None:  # None: a sign of life between silent steps
                        self._stats = stats
                    for hid, item in items:
                        self._deliver(hid, item)
            except (EOFError, OSError):
                pass
            if not self._restart():
                return

    def _deliver(self, hid: int, item: Any) -> None:
        with self._lock:
            flight = self._handles.get(hid)
            if flight is None:
                return
            flight.delivered = True
            if isinstance(item, tuple):
                (request_id, full_text, delta, new_ids, finished, reason, num_prompt,
                 num_cached, metrics, events, new_logprobs, prompt_logprobs, stop_reason,
                 embedding) = item
                if prompt_logprobs is not None:
                    flight.prompt_logprobs = prompt_logprobs
                flight.tokens.extend(new_ids)
                if flight.logprobs is not None and new_logprobs is not None:
                    flight.logprobs.extend(new_logprobs)
                flight.text.append(delta)
                item = RequestOutput(
                    request_id, "".join(flight.text) if full_text is None else full_text,
                    delta, list(flight.tokens), finished, reason, num_prompt, num_cached,
                    metrics, events, None if flight.logprobs is None else list(flight.logprobs),
                    flight.prompt_logprobs, stop_reason, embedding)
                if finished:
                    del self._handles[hid]
            else:
                del self._handles[hid]
        flight.handle._queue.put(item)

    def _watch(self, timeout_s: float) -> None:
        """The watchdog: kills a child that has requests and says nothing for timeout_s."""
        while not self._stopped:
            time.sleep(min(1.0, timeout_s / 4))
            with self._lock:
                silent = time.monotonic() - self._last_heard
                if (self._handles and self._restarting is None and not self._stopped
                        and self._hung is None and silent > timeout_s):
                    self._hung = (f"the engine process sent nothing for {silent:.0f} s while "
                                  f"it had requests (step timeout {timeout_s:g} s): killed")
                    self._process.kill()

    def _may_restart_locked(self) -> bool:
        recent = [t for t in self._restarted_at
                  if time.monotonic() - t < self.restart_window_s]
        return not self._stopped and len(recent) < self.max_restarts

    def _exit_code(self) -> int:
        """The exit code of the child whose pipe closed (killed if it lingers on)."""
        try:
            return self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

    def _restart(self) -> bool:
        """The child's pipe closed: end the engine (shut down, or no restart left) and fail
        every waiter, or fail the requests in flight and start a new child. True once the
        new child is ready."""
        code = self._exit_code()
        with self._lock:
            exited, self._hung = self._hung or f"the engine process exited (code {code})", None
            if not self._may_restart_locked():
                if self._death is None:
                    self._death = ("the engine is shut down" if self._stopped and code == 0
                                   else exited)
                    self._stopped = True
                self._fail_all_locked(EngineStoppedError(self._death))
                self._ready.set()
                return False
            self._restarting = f"{exited}; a new one is starting"
            self._ready.clear()
            self._lora_ops.fail_all(EngineRestartingError(
                f"{exited} before the LoRA change was answered; a new one is starting with "
                f"the adapters loaded before it"))
            lost = EngineRestartingError(
                f"{exited} while the request ran; a new one is starting: submit it again")
            for hid, flight in list(self._handles.items()):
                if flight.delivered or flight.resent:  # kept otherwise, for the new child
                    del self._handles[hid]
                    flight.handle._queue.put(lost)
        try:
            conn, process, ready = start_child(self._folder, self.config,
                                               self._start_timeout_s)
        except BaseException as exc:  # noqa: BLE001 - the engine ends, saying why
            with self._lock:
                self._death = f"{exited}; starting a new one failed: {exc}"
                self._stopped, self._restarting = True, None
                self._fail_all_locked(EngineStoppedError(self._death))
            self._ready.set()
            return False
        with self._lock:
            self._restarting = None
            if self._stopped:  # shut down while the new child started
                conn.send(("stop",))
                process.wait()
                conn.close()
                self._fail_all_locked(EngineStoppedError("the engine is shut down"))
            else:
                self._conn.close()  # the dead process's end
                self._conn, self._process = conn, process
                self._last_heard = time.monotonic()
                self.info, self._stats = ready[1], ready[2]
                self._restarted_at.append(time.monotonic())
                self._resend_locked()
        self._ready.set()
        return not self._stopped

    def _resend_locked(self) -> None:
        """Sends the requests kept across the exit to the new child, as they were submitted
        (a send that fails leaves them to the reader: the new child is gone too)."""
        for flight in self._handles.values():
            flight.resent = True
            try:
                self._conn.send(flight.msg)
            except OSError:
                return
            self.num_resubmitted += 1

    def _fail_all(self, message: str) -> None:
        with self._lock:
            self._fail_all_locked(EngineStoppedError(message))

    def _fail_all_locked(self, error: EngineStoppedError) -> None:
        for flight in self._handles.values():
            flight.handle._queue.put(error)
        self._handles.clear()
        self._lora_ops.fail_all(error)

