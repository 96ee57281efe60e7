"""Progress reporting for long model operations (hashing, assembling, converting).

Library code reports through a `ProgressFn(stage, done, total)` callback and never prints;
`TerminalProgress` is the renderer the CLI passes in. `total == 0` means "unknown size".
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

ProgressFn = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """A ProgressFn that ignores every report."""


def _human(num_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    raise AssertionError("unreachable")


class TerminalProgress:
    """Renders reports as one updating line per stage on a terminal, or one line per stage
    (plus its final state) when the stream is not a terminal, so logs stay short.

    Byte-sized stages (total > 1 MiB) are shown in KiB/MiB/GiB; others as counts.
    """

    def __init__(self, stream: TextIO | None = None, min_interval_s: float = 0.1) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._min_interval_s = min_interval_s
        self._stage: str | None = None
        self._last_draw = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        new_stage = stage != self._stage
        if new_stage and self._stage is not None and self._tty:
            self._stream.write("\n")
        self._stage = stage
        finished = total > 0 and done >= total
        now = time.monotonic()
        if not (new_stage or finished or now - self._last_draw >= self._min_interval_s):
            return
        self._last_draw = now
        line = self._format(stage, done, total)
        if self._tty:
            self._stream.write("\r" + line)
            if finished:
                self._stream.write("\n")
                self._stage = None
        elif new_stage or finished:
            self._stream.write(line + "\n")
        self._stream.flush()

    @staticmethod
    def _format(stage: str, done: int, total: int) -> str:
        if total <= 0:
            return f"{stage} ..."
        percent = 100.0 * min(done, total) / total
        width = 24
        filled = int(width * percent / 100.0)
        bar = "#" * filled + "-" * (width - filled)
        if total > (1 << 20):
            amount = f"{_human(done)} / {_human(total)}"
        else:
            amount = f"{done}/{total}"
        return f"{stage} [{bar}] {percent:5.1f}% {amount}"
