"""The research workload's tools: `search` and `fetch` against the local CorpusServer.

Both are read_only and may run speculatively, but only towards the corpus server: fetch's
SpeculationPolicy admits a URL only if it starts with the server's `/page/` prefix (any other
URL is also refused when called, with DestinationError), and search always goes to the server.
Each request carries the session's key in the X-Session header (the server's latency draw).

    search(query) -> {"query", "results": [{"url", "title", "snippet"}, ...]}  (top 5)
    fetch(url)    -> {"url", "title", "text"}  (text cut to PAGE_CHARS characters)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from paste.tools import SpeculationPolicy
from paste.workloads.errors import DestinationError, PageNotFoundError, WorkloadToolError
from paste.workloads.toolbox import LiveToolBox
from paste.workloads.web_server import SESSION_HEADER

PAGE_CHARS = 1500
NUM_RESULTS = 5


def _get(url: str, session: str, timeout_s: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={SESSION_HEADER: session})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        with exc:
            message = json.loads(exc.read().decode("utf-8") or "{}").get("error", str(exc))
        if exc.code == 404:
            raise PageNotFoundError(message) from None
        raise WorkloadToolError(f"HTTP {exc.code}: {message}") from None


def add_research_tools(box: LiveToolBox, base_url: str, session: str,
                       timeout_s: float = 60.0) -> None:
    """Register search and fetch for one session (see the module docstring)."""
    prefix = f"{base_url}/page/"

    def search(query: str) -> dict[str, Any]:
        """Search the document corpus.

        Args:
            query: Words to search for.
        """
        q = urllib.parse.urlencode({"q": query, "k": NUM_RESULTS})
        return _get(f"{base_url}/search?{q}", session, timeout_s)

    def fetch(url: str) -> dict[str, Any]:
        """Fetch a page of the document corpus.

        Args:
            url: The page URL, as given by a search result.
        """
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise DestinationError(f"only pages of {prefix} can be fetched, got {url!r}")
        page = _get(url, session, timeout_s)
        page["text"] = page["text"][:PAGE_CHARS]
        return page

    def on_server(arguments: Any) -> bool:
        return str(arguments.get("url", "")).startswith(prefix)

    box.add(search, "read_only", timeout_s=timeout_s)
    box.add(fetch, "read_only", timeout_s=timeout_s, speculation=SpeculationPolicy(on_server))
