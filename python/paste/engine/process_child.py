"""The engine process's side of ProcessEngine (process_engine.py): `python -m
paste.engine.process_child FD` builds the EngineCore from the folder and EngineConfig the
parent sends first, says ready (or why not), then runs the StepLoop: a reader thread turns the
parent's commands into StepLoop commands, and the step thread sends each step's outputs back
(only what is new of each request, `_Child._compact`) and LoRA op answers (lora_ops.py).
"""

from __future__ import annotations

import multiprocessing.connection
import pickle
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from paste import envs
from paste.engine.config import EngineConfig
from paste.engine.request import RequestOutput
from paste.engine.stats import EngineStats, core_info, core_stats
from paste.engine.step_loop import StepLoop
from paste.errors import PasteError

BEAT_S = 1.0  # a child stepping without output says so this often (the parent's watchdog)


class EngineProcessError(PasteError, RuntimeError):
    """An error raised in the engine process that could not be sent back as itself."""


def portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else an EngineProcessError naming its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        return EngineProcessError(f"{type(exc).__name__}: {exc}")


# ----- child process -----------------------------------------------------------------------
class _Outbox:
    """A remote handle's `_queue`: what the loop puts is collected for the next send."""

    def __init__(self, hid: int, child: _Child) -> None:
        self.hid, self.child = hid, child

    def put(self, item: RequestOutput | BaseException) -> None:
        self.child.outbox.append((self.hid, item))


class _RemoteHandle:
    def __init__(self, hid: int, child: _Child) -> None:
        self.request: Any = None
        self._queue = _Outbox(hid, child)


class _Child(StepLoop):
    def __init__(self, core: Any, conn: Any) -> None:
        super().__init__()
        self.core = core
        self.conn = conn
        self.outbox: list[tuple[int, Any]] = []
        self.remote: dict[int, _RemoteHandle] = {}  # hid -> handle, until its last item
        self.sent: dict[int, tuple[int, int]] = {}  # hid -> (token ids, text chars) sent
        self._last_stats: EngineStats | None = None
        self._last_send = time.monotonic()

    def read_commands(self) -> None:
        """The child's reader thread: pipe -> StepLoop commands. The parent gone = stop."""
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                self._command(("stop", None))
                return
            kind = msg[0]
            if kind in ("add", "turn"):
                handle = self.remote[msg[1]] = _RemoteHandle(msg[1], self)
                self._command((kind, (handle, *msg[2:])))
            elif kind == "abort":
                target = self.remote.get(msg[1])
                if target is not None:
                    self._command(("abort", target))
            elif kind == "end":
                self._command(("end", msg[1]))
            elif kind == "reset_prefix_cache":
                self._command(("reset_prefix_cache", None))
            elif kind == "lora":  # ("lora", op id, load | unload, name, path)
                self._command(("lora", (*msg[2:], self._lora_reply(msg[1]))))
            else:
                self._command(("stop", None))
                return

    def _flush(self, idle: bool) -> None:
        if not self.outbox and not idle:  # nothing to say: no stats read on this step, but
            if time.monotonic() - self._last_send >= BEAT_S:  # a sign of life now and then
                self._send(("out", [], None))
            return
        stats = core_stats(self.core)
        if not self.outbox and stats == self._last_stats:
            return
        items, self.outbox = self.outbox, []
        wire = [(hid, self._compact(hid, item)) for hid, item in items]
        self._last_stats = stats
        self._send(("out", wire, stats))

    def _lora_reply(self, op_id: int) -> Any:
        """The `done` of a LoRA command: its outcome to the parent (on the engine thread,
        which sends the step outputs too)."""
        def done(exc: BaseException | None) -> None:
            self._send(("lora", [(op_id, None if exc is None else portable(exc))], None))
        return done

    def _send(self, msg: tuple[Any, ...]) -> None:
        self._last_send = time.monotonic()
        try:
            self.conn.send(msg)
        except (OSError, ValueError):  # the parent is gone; the reader stops the loop
            pass

    def _compact(self, hid: int, item: Any) -> Any:
        """An error as itself (or EngineProcessError); an output as a plain tuple in
        RequestOutput's field order (ProcessEngine._deliver reads it) with only the token ids
        and logprobs added since the request's previous output, its prompt logprobs in the
        first output only, and its text only when it is not the deltas so far (None then; a
        tail held back for a stop string is not)."""
        if not isinstance(item, RequestOutput):
            self.remote.pop(hid, None)
            self.sent.pop(hid, None)
            return portable(item)
        first = hid not in self.sent
        ids_sent, text_sent = self.sent.get(hid, (0, 0))
        text_sent += len(item.delta)  # emitted text is never retracted: text[:text_sent]
        if item.finished:
            self.remote.pop(hid, None)
            self.sent.pop(hid, None)
        else:
            self.sent[hid] = (len(item.token_ids), text_sent)
        return (item.request_id, None if len(item.text) == text_sent else item.text,
                item.delta, item.token_ids[ids_sent:], item.finished, item.finish_reason,
                item.num_prompt_tokens, item.num_cached_tokens, item.metrics, item.call_events,
                None if item.logprobs is None else item.logprobs[ids_sent:],
                item.prompt_logprobs if first else None, item.stop_reason, item.embedding)


def child_main(folder: str, config: EngineConfig, conn: Any) -> None:
    """The engine process: build the core, say ready (or why not), then step until stopped."""
    import torch

    from paste.engine.core import EngineCore

    try:
        torch.set_num_threads(config.num_threads or envs.num_threads())
        core = EngineCore(Path(folder), config)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", portable(exc)))
        return
    child = _Child(core, conn)
    conn.send(("ready", core_info(core), core_stats(core)))
    threading.Thread(target=child.read_commands, name="paste-engine-commands",
                     daemon=True).start()
    child._run()
    conn.close()


def _child_entry(fd: int) -> None:
    """`python -m paste.engine.process_child FD`: FD is this end of the parent's socket pair;
    the first message names the model folder and the EngineConfig. Ctrl-C in a terminal
    reaches the whole process group: the parent decides when this process stops (a stop
    message, or its end of the pipe closing), so SIGINT is ignored here."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = multiprocessing.connection.Connection(fd)
    try:
        _, folder, config = conn.recv()
    except EOFError:
        return
    child_main(folder, config, conn)


if __name__ == "__main__":
    _child_entry(int(sys.argv[1]))
