"""One ToolExecutor per ToolRegistry for sessions that were not given an executor.

Lifetime: a shared executor is created on first use and lives until
`close_shared_executor(registry)` or interpreter exit (an atexit hook shuts all of them down
without waiting for hung tool threads). It holds the registry, so the registry also lives
until then; servers create their registries once, and code that creates many registries should
pass its own executor to open_session instead.
"""

from __future__ import annotations

import atexit
import threading

from paste.tools import ToolExecutor, ToolRegistry

_LOCK = threading.Lock()
_SHARED: dict[int, tuple[ToolRegistry, ToolExecutor]] = {}


def shared_executor(registry: ToolRegistry) -> ToolExecutor:
    """The process-wide executor of `registry` (created on first call)."""
    with _LOCK:
        entry = _SHARED.get(id(registry))
        if entry is None:
            entry = _SHARED[id(registry)] = (registry, ToolExecutor(registry))
        return entry[1]


def close_shared_executor(registry: ToolRegistry, wait: bool = True) -> None:
    """Shut down the shared executor of `registry`, if any (idempotent)."""
    with _LOCK:
        entry = _SHARED.pop(id(registry), None)
    if entry is not None:
        entry[1].shutdown(wait=wait)


@atexit.register
def _close_all() -> None:
    with _LOCK:
        entries = list(_SHARED.values())
        _SHARED.clear()
    for _registry, executor in entries:
        executor.shutdown(wait=False)
