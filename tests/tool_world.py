"""ToolWorld: a real ToolRegistry whose tools log their runs, with its ToolExecutor; the
skeleton of the speculation tests' `world` fixtures (conftest's `tool_world`).

A test registers its own tools on `reg`, each calling `log(entry)` when it runs, and reads
`runs` (the entries in the order the tools ran, appended under one lock).
"""

from __future__ import annotations

import threading
from typing import Any

from paste.tools import ToolExecutor, ToolRegistry


class ToolWorld:
    def __init__(self) -> None:
        self.reg = ToolRegistry()
        self.runs: list[Any] = []
        self._lock = threading.Lock()
        self._executor: ToolExecutor | None = None

    def log(self, entry: Any) -> None:
        with self._lock:
            self.runs.append(entry)

    @property
    def executor(self) -> ToolExecutor:
        """The registry's executor, made on first use (after the tools are registered)."""
        if self._executor is None:
            self._executor = ToolExecutor(self.reg)
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
        self.reg.close()
