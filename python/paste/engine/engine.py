"""Engine: the public, thread-safe face of one model engine.

One background thread owns the EngineCore and runs its step loop (step_loop.py) while there is
work; callers on any thread submit requests and read their outputs from per-request queues.
Tool-call events of a request (GenerationParams.call_scan and call_candidates: the C++ scanner
and trie matcher) arrive on the RequestOutput of the step that decoded their token
(RequestOutput.call_events). ProcessEngine (process_engine.py) is the same front with the core
in a child process of its own.

    engine = Engine("smollm2-135m-instruct")
    print(engine.generate(["What is the capital of France?"])[0].text)
    for out in engine.stream("Tell me a story", GenerationParams(max_tokens=64)):
        print(out.delta, end="")
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import Any, Self

import torch

from paste import envs
from paste.engine.chat import ChatPromptMixin
from paste.engine.config import EngineConfig
from paste.engine.core import EngineCore
from paste.engine.request import GenerationParams, Request, RequestOutput
from paste.engine.stats import EngineInfo, EngineStats, core_info, core_stats
from paste.engine.step_loop import EngineRestartingError, EngineStoppedError, StepLoop

__all__ = ["Engine", "EngineFront", "EngineRestartingError", "EngineStoppedError",
           "RequestHandle"]


class RequestHandle:
    """A submitted request: iterate for RequestOutputs (deltas) or call result()."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._queue: queue.Queue[RequestOutput | BaseException] = queue.Queue()
        self.request: Request | None = None
        self.final: RequestOutput | None = None
        self.hid = -1  # a ProcessEngine's id of it (process_engine.py)

    def __iter__(self) -> Iterator[RequestOutput]:
        while self.final is None:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if item.finished:
                self.final = item
            yield item

    def result(self) -> RequestOutput:
        for _ in self:
            pass
        assert self.final is not None
        return self.final

    def abort(self) -> None:
        self._engine._command(("abort", self))


def resolve_config(model: str | None, config: EngineConfig | None,
                   overrides: dict[str, Any]) -> EngineConfig:
    """The EngineConfig an engine runs with: `model` (else the config's, else the default)."""
    config = config or EngineConfig()
    return replace(config, model=model or config.model or envs.default_model(), **overrides)


class EngineFront(ChatPromptMixin):
    """What every engine front offers on top of submit / submit_turn / end_session / stats:
    generate, stream, open_session, a context manager that shuts the engine down."""

    config: EngineConfig
    info: EngineInfo

    def submit(self, prompt: str | Sequence[int], params: GenerationParams | None = None,
               priority: float = 0.0) -> RequestHandle:
        raise NotImplementedError

    def shutdown(self) -> None:
        raise NotImplementedError

    @property
    def failure(self) -> str | None:
        """Why the engine cannot serve (shut down, its loop or process gone); None while it
        can."""
        raise NotImplementedError

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        """Waits while the engine restarts (a ProcessEngine replacing its exited process);
        True if it can serve."""
        return self.failure is None

    @property
    def max_model_len(self) -> int:
        return self.info.max_model_len

    @property
    def vocab_size(self) -> int:
        return self.info.vocab_size

    def open_session(self, tools: Any = None, system: str | None = None,
                     **kwargs: Any) -> Any:
        """An agent session on this engine (paste.session.open_session: tenant, max_turns,
        parser, turn_params, executor, speculator, ...); session.run(text) runs the tool loop."""
        from paste.session import open_session

        return open_session(self, tools, system, **kwargs)

    def generate(
        self, prompts: str | Sequence[str | Sequence[int]], params: GenerationParams | None = None
    ) -> list[RequestOutput]:
        """Generates for every prompt (batched together); outputs in prompt order."""
        if isinstance(prompts, str):
            prompts = [prompts]
        handles = [self.submit(p, params) for p in prompts]
        return [h.result() for h in handles]

    def stream(
        self, prompt: str | Sequence[int], params: GenerationParams | None = None
    ) -> Iterator[RequestOutput]:
        handle = self.submit(prompt, params)
        try:
            yield from handle
        finally:
            if handle.final is None:
                handle.abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


class Engine(StepLoop, EngineFront):
    """A model engine serving many concurrent requests with continuous batching."""

    def __init__(
        self, model: str | None = None, config: EngineConfig | None = None, **overrides: Any
    ) -> None:
        from paste.models.store import resolve_model

        super().__init__()
        config = resolve_config(model, config, overrides)
        torch.set_num_threads(config.num_threads or envs.num_threads())
        self.config = config
        folder = resolve_model(config.model)
        self._stopped = False
        # The engine thread builds the core itself (see _main), then runs the step loop.
        ready: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, args=(folder, ready),
                                        name="paste-engine", daemon=True)
        self._thread.start()
        error = ready.get()
        if error is not None:
            self._thread.join()
            raise error
        self.tokenizer = self.core.tokenizer
        self.info = core_info(self.core)

    # ----- submission (any thread) -------------------------------------------------------
    # (encode and chat_prompt come from ChatPromptMixin)
    def submit(
        self,
        prompt: str | Sequence[int],
        params: GenerationParams | None = None,
        priority: float = 0.0,
    ) -> RequestHandle:
        if self._stopped:
            raise EngineStoppedError("the engine is shut down")
        handle = RequestHandle(self)
        self._command(
            ("add", (handle, self.encode(prompt), params or GenerationParams(), priority))
        )
        return handle

    def submit_turn(
        self,
        session_key: str,
        conversation: Sequence[int],
        params: GenerationParams | None = None,
        priority: float = 0.0,
        pin_ttl_s: float = 30.0,
    ) -> RequestHandle:
        """The next model turn of an agent session, given its whole conversation as token ids.

        Between turns the session's sequence stays parked with its KV pinned for pin_ttl_s, so
        a turn that extends the previous conversation prefills only the new tokens
        (RequestOutput.num_cached_tokens tells how many were reused).
        """
        if self._stopped:
            raise EngineStoppedError("the engine is shut down")
        handle = RequestHandle(self)
        self._command(
            (
                "turn",
                (
                    handle,
                    session_key,
                    [int(t) for t in conversation],
                    params or GenerationParams(),
                    priority,
                    pin_ttl_s,
                ),
            )
        )
        return handle

    def end_session(self, session_key: str) -> None:
        """Frees the session's retained KV (idempotent)."""
        self._command(("end", session_key))

    def reset_prefix_cache(self) -> None:
        """Forgets the prefix cache (vLLM's reset_prefix_cache): a request submitted after
        this call gets no prefix hit on KV computed before it. The KV of sequences running
        or parked (their blocks are held) is kept; only what no sequence holds is evicted."""
        self._command(("reset_prefix_cache", None))

    def load_lora_adapter(self, name: str, path: str) -> None:
        """Serves the PEFT adapter at `path` as `name` (GenerationParams.lora) from the
        engine's next step on; raises what loading raised (LoraError, LoraNameError for a
        name already loaded). Waits for the engine thread."""
        self._lora_op("load", name, path)

    def unload_lora_adapter(self, name: str) -> None:
        """Stops serving adapter `name`; LoraNameError if it is not loaded, LoraInUseError
        while a request runs it. Waits for the engine thread."""
        self._lora_op("unload", name, None)

    def lora_adapters(self) -> tuple[tuple[str, str], ...]:
        """The LoRA adapters served now, as (name, path)."""
        lora = self.core.runner.lora
        return () if lora is None else tuple((a.name, a.path) for a in list(lora.adapters.values()))

    def _lora_op(self, op: str, name: str, path: str | None) -> None:
        done: Future[None] = Future()
        if self._stopped:
            raise EngineStoppedError("the engine is shut down")
        self._command(("lora", (op, name, path, lambda exc: (
            done.set_result(None) if exc is None else done.set_exception(exc)))))
        while True:
            try:
                return done.result(timeout=0.5)
            except FutureTimeout:
                if self.failure is not None:
                    raise EngineStoppedError(self.failure) from None

    def stats(self) -> EngineStats:
        """The scheduler's and KV cache's state now (read while the engine may be stepping)."""
        return core_stats(self.core)

    @property
    def failure(self) -> str | None:
        if self._stopped:
            return "the engine is shut down"
        return None if self._thread.is_alive() else "the engine thread ended"

    def shutdown(self) -> None:
        self._stopped = True
        self._command(("stop", None))
        self._thread.join(timeout=30)

    # ----- engine thread -----------------------------------------------------------------
    def _main(self, folder: Any, ready: queue.SimpleQueue[BaseException | None]) -> None:
        """The engine thread: builds the EngineCore (model load, KV cache) here, then steps.

        Every torch op of the engine runs on this one thread. With OpenMP (libgomp), a
        second thread running parallel ops makes the runtime count more busy threads than
        CPUs and throttle its spin-waiting: a small decode step's parallel regions then pay
        thread wake-ups (measured on this 2-core machine: one 576x1536 linear 35 us on the
        only OpenMP thread, 140 us on a second one; the engine's decode steps ran 25% slower
        when the core was built on the caller's thread and stepped on this one)."""
        try:
            torch.set_num_threads(self.config.num_threads or envs.num_threads())
            self.core = EngineCore(folder, self.config)
        except BaseException as exc:  # noqa: BLE001 - raised again by __init__
            ready.put(exc)
            return
        ready.put(None)
        self._run()
