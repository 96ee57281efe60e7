"""Helpers shared by the server tests (no tests here): a scripted engine and a live server.

FakeScriptedEngine wraps a real tiny-model Engine. Before each request it decodes the prompt
and asks `script(prompt_text)` what the assistant should write; a text is decoded as forced
tokens (real forward passes, real KV, real detokenisation; a grammar the request had is
dropped), None leaves the model's own sampling. `params` keeps the GenerationParams of every
request as the server made them. Everything else (HTTP, SSE, parsing, the openai client) is real.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from test_session_support import shared_tiny_folder, tiny_engine

Script = Callable[[str], "str | None"]
HANG_GUARD_S = 60.0  # only reached if the engine never frees a sequence (then the test fails)


class FakeScriptedEngine:
    """A real Engine whose assistant text can be scripted per prompt (see the module doc)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.script: Script = lambda _prompt: None
        self.prompts: list[str] = []
        self.params: list[Any] = []
        self.priorities: list[float] = []  # the BatchLoop priority of each submitted turn
        self.handles: list[Any] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def _params(self, prompt_ids: Any, params: Any) -> Any:
        prompt = self._engine.tokenizer.decode(list(prompt_ids), skip_special_tokens=False)
        text = self.script(prompt)
        with self._lock:
            self.prompts.append(prompt)
            self.params.append(params)
        if text is None:
            return params
        ids = self._engine.encode(text) + [self._engine.tokenizer.eos_token_id]
        # the scripted text replaces sampling, and with it any grammar (engine/grammar.py)
        return replace(params, forced_tokens=tuple(ids[: params.max_tokens]), grammar=None)

    def _record(self, handle: Any) -> Any:
        with self._lock:
            self.handles.append(handle)
        return handle

    def submit(self, prompt: Any, params: Any = None, priority: float = 0.0) -> Any:
        self.priorities.append(priority)
        return self._record(self._engine.submit(prompt, self._params(prompt, params), priority))

    def submit_turn(self, key: str, conversation: Any, params: Any = None, *args: Any) -> Any:
        self.priorities.append(args[0] if args else 0.0)
        forced = self._params(conversation, params)
        return self._record(self._engine.submit_turn(key, conversation, forced, *args))

    @contextmanager
    def scripted(self, script: Script) -> Iterator[FakeScriptedEngine]:
        previous, self.script = self.script, script
        try:
            yield self
        finally:
            self.script = previous


def always(text: str) -> Script:
    return lambda _prompt: text


def make_engine(tmp_path_factory: Any) -> FakeScriptedEngine:
    return FakeScriptedEngine(tiny_engine(shared_tiny_folder(tmp_path_factory)))


@contextmanager
def live_server(engine: Any, tools: Any = None, **config: Any) -> Iterator[Any]:
    """A BackgroundServer on a free loopback port serving `engine` as model "tiny"."""
    from paste.server import BackgroundServer, ServerConfig, create_app

    app = create_app(engine, ServerConfig(model_id="tiny", **config), tools=tools)
    with BackgroundServer(app) as server:
        yield server


_CLIENTS: list[Any] = []  # every openai_client made, closed by close_clients


def openai_client(server: Any, api_key: str = "unused", **kwargs: Any) -> Any:
    """An openai client of `server`, kept until close_clients (conftest calls it when each
    test module ends): a client dropped unclosed leaves its pooled sockets to the garbage
    collector, whose ResourceWarning then fails whichever test happens to be running."""
    import openai

    kwargs.setdefault("max_retries", 0)
    return track_client(openai.OpenAI(base_url=server.url + "/v1", api_key=api_key, **kwargs))


def track_client(client: Any) -> Any:
    """Keep an openai client made elsewhere (an agent framework's) until close_clients."""
    _CLIENTS.append(client)
    return client


def close_clients() -> None:
    """Close every client openai_client made (their sockets with them)."""
    while _CLIENTS:
        _CLIENTS.pop().close()


def raw_post(path: str, body: bytes) -> bytes:
    """A whole HTTP/1.1 POST of a JSON `body`, for tests that write to a socket themselves
    (to hang up mid-answer)."""
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body))) + body


def wait_until(condition: Callable[[], bool], interval_s: float = 0.01) -> bool:
    """Polls `condition` until true; False only after HANG_GUARD_S (a hang, not a timing)."""
    pause = threading.Event()
    for _ in range(int(HANG_GUARD_S / interval_s)):
        if condition():
            return True
        pause.wait(interval_s)
    return condition()
