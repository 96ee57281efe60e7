"""CorpusServer: a local HTTP server (stdlib ThreadingHTTPServer) over a BM25Index.

    GET /search?q=QUERY[&k=5]  -> 200 {"query", "results": [{"url", "title", "snippet"}]}
    GET /page/<doc_id>         -> 200 {"url", "title", "text"}; 404 {"error"} if unknown
    anything else              -> 404 {"error"}; /search without q -> 400 {"error"}

It binds 127.0.0.1 on an ephemeral port and serves each request on its own thread, after the
seeded delay of paste.workloads.netlatency (the endpoint is `search` or `page`; the session is
the `X-Session` request header). Every answered request is logged as a ServedRequest.
Lifetime: `start()` (or `with`) starts the serving thread, `close()` stops it and frees the port.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from paste.workloads.index import BM25Index
from paste.workloads.netlatency import NetworkLatency

SESSION_HEADER = "X-Session"


@dataclass(frozen=True)
class ServedRequest:
    path: str
    session: str
    status: int
    delay_s: float


class CorpusServer:
    def __init__(self, index: BM25Index, latency: NetworkLatency | None = None) -> None:
        self.index = index
        self.latency = latency or NetworkLatency(scale=0.0)
        self.log: list[ServedRequest] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def start(self) -> CorpusServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                            name="corpus-server")
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> CorpusServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def answer(self, raw_path: str) -> tuple[str, int, dict[str, Any]]:
        """(endpoint, HTTP status, JSON body) of a request path; no delay, no log."""
        url = urllib.parse.urlsplit(raw_path)
        if url.path == "/search":
            query = urllib.parse.parse_qs(url.query).get("q", [""])[0]
            k = urllib.parse.parse_qs(url.query).get("k", ["5"])[0]
            if not query.strip():
                return "search", 400, {"error": "missing query parameter q"}
            if not k.isdigit() or not 1 <= int(k) <= 20:
                return "search", 400, {"error": f"k must be an integer in 1..20, got {k!r}"}
            hits = self.index.search(query, int(k))
            results = [{"url": f"{self.base_url}/page/{h.doc_id}", "title": h.title,
                        "snippet": h.snippet} for h in hits]
            return "search", 200, {"query": query, "results": results}
        if url.path.startswith("/page/"):
            doc_id = urllib.parse.unquote(url.path[len("/page/"):])
            doc = self.index.docs.get(doc_id)
            if doc is None:
                return "page", 404, {"error": f"no page {doc_id!r}"}
            return "page", 200, {"url": f"{self.base_url}/page/{doc_id}", "title": doc.title,
                                 "text": doc.text}
        return "other", 404, {"error": f"no route {url.path!r}"}

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        endpoint, status, body = self.answer(handler.path)
        session = handler.headers.get(SESSION_HEADER, "")
        delay = self.latency.draw(endpoint, session, handler.path)
        if delay > 0:
            time.sleep(delay)
        data = json.dumps(body, ensure_ascii=False).encode()
        # Logged before the reply goes out: a client that has read its reply finds it logged.
        with self._lock:
            self.log.append(ServedRequest(handler.path, session, status, delay))
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _handler(server: CorpusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            server._serve(self)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # requests are logged in CorpusServer.log

    return Handler
