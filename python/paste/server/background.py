"""BackgroundServer: an app served by uvicorn on a thread of this process.

For tests, notebooks and benchmarks that need a real HTTP server next to their own code. The
listening socket is bound before the thread starts, so `url` is valid at once (port 0 picks a
free port); `start()` returns once uvicorn accepts connections.

    with BackgroundServer(create_app(engine, ServerConfig(model_id="m"))) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

from paste.errors import PasteError
from paste.server.http_options import HttpOptions


class ServerStartError(PasteError, RuntimeError):
    """uvicorn stopped before it started serving (see its log)."""


class BackgroundServer:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 http: HttpOptions | None = None) -> None:
        """http: uvicorn's options as `paste serve` takes them (HTTPS, log level); default:
        plain HTTP, warnings only."""
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.http = http or HttpOptions(log_level="warning")
        config = uvicorn.Config(
            app, lifespan="on", timeout_graceful_shutdown=5, **self.http.uvicorn_kwargs()
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="paste-http", daemon=True)
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"{self.http.scheme}://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._ready.set()

    def start(self) -> BackgroundServer:
        self._thread.start()
        while not self._server.started:
            if self._ready.wait(0.01):  # the thread ended before serving
                raise ServerStartError(f"the server on {self.url} did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join()
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
