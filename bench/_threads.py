"""Run a benchmark's torch work on a thread that ends with it.

Torch's CPU ops run on an OpenMP team per calling thread, and the team lives as long as its
thread. While a second team exists (an engine's thread beside a main thread that loaded an
HF model), GNU OpenMP counts more threads than CPUs and stops spin-waiting between parallel
regions, so every small op pays a wake-up: decoding ran 1.9x slower here with a second
engine alive and idle. A benchmark that needs torch outside the engine it times (HF
baselines, adapters it builds) runs that work through `on_own_thread`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def on_own_thread(fn: Callable[..., T], *args: Any) -> T:
    """fn(*args) on a new thread, joined; its exception is raised here."""
    out: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            failed.append(exc)

    worker = threading.Thread(target=run, name=f"bench-{getattr(fn, '__name__', 'work')}")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return out[0]
