"""SessionRequestLog: the request log (request_log.py) of native sessions' model turns.

With ServerConfig.log_requests the SessionStore hands each session its own proxy of the engine
instead of the engine: every model turn the session submits (submit_turn, or submit without KV
retention) logs the Received line when submitted and the Finished line when its last output
arrives, under `<session id>-turn<n>` (n counts the session's turns from 1); a turn aborted
or failed before its last output logs Aborted. Everything else the session asks of the engine
(chat_prompt, tokenizer, stats, ...) passes through unchanged; being another object, the
proxy has the session probe the chat template once more (four renderings, session/template.py).

    Received request acme-4f2a...-turn1: prompt: '<|im_start|>system\\n...', params:
        GenerationParams(max_tokens=512, ...), prompt_token_ids: [1, ...]
    Finished request acme-4f2a...-turn1: 40 prompt tokens, 12 output tokens, finish_reason stop

One session drives its proxy, one turn at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from paste.engine.request import GenerationParams, RequestOutput
from paste.server.request_log import RequestLog, prompt_decoder


class _LoggedHandle:
    """A turn's RequestHandle, its end logged."""

    def __init__(self, handle: Any, log: RequestLog) -> None:
        self._handle = handle
        self._log = log

    def __iter__(self) -> Iterator[RequestOutput]:
        try:
            for out in self._handle:
                if out.finished and out.finish_reason != "abort":
                    self._log.finished(out.num_prompt_tokens, len(out.token_ids),
                                       str(out.finish_reason))
                yield out
        finally:
            self._log.abort()  # no-op once finished

    def result(self) -> RequestOutput:
        for _ in self:
            pass
        return self._handle.result()

    @property
    def final(self) -> RequestOutput | None:
        return self._handle.final  # type: ignore[no-any-return]

    def abort(self) -> None:
        self._handle.abort()
        self._log.abort()


class SessionRequestLog:
    """The engine as one native session sees it, its model turns logged (module docstring)."""

    def __init__(self, engine: Any, session_id: str, decode: Any,
                 max_log_len: int | None) -> None:
        self._engine = engine
        self._session_id = session_id
        self._decode = decode
        self._max_log_len = max_log_len
        self._turns = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def submit_turn(self, session_key: str, conversation: Sequence[int],
                    params: GenerationParams | None = None, priority: float = 0.0,
                    pin_ttl_s: float = 30.0) -> _LoggedHandle:
        log = self._received(conversation, params)
        return _LoggedHandle(self._engine.submit_turn(session_key, conversation, params,
                                                      priority, pin_ttl_s), log)

    def submit(self, prompt: Sequence[int], params: GenerationParams | None = None,
               priority: float = 0.0) -> _LoggedHandle:
        log = self._received(prompt, params)
        return _LoggedHandle(self._engine.submit(prompt, params, priority), log)

    def _received(self, ids: Sequence[int], params: GenerationParams | None) -> RequestLog:
        self._turns += 1
        log = RequestLog(f"{self._session_id}-turn{self._turns}", self._decode,
                         self._max_log_len)
        log.on_prompt()(list(ids), params or GenerationParams())
        return log


def session_turn_log(engine: Any, config: Any) -> Callable[[str], SessionRequestLog] | None:
    """SessionStore's turn_log for a server of ServerConfig `config`: a session id -> its
    engine proxy; None when the server does not log requests."""
    if not config.log_requests:
        return None
    decode = prompt_decoder(engine)
    return lambda session_id: SessionRequestLog(engine, session_id, decode, config.max_log_len)
