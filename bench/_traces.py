"""Seeded samples of the trace sources in ../shared/traces for the bench scripts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from paste.patterns.loaders import load_folder
from paste.patterns.trace import Trace

DEFAULT_TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"


def seeded_sources(traces: Path, spec: str, seed: int) -> Iterator[tuple[str, int, list[Trace]]]:
    """For each `source:count` of the comma-separated `spec`: the source, the count, and the
    source's sessions (sorted by id, then shuffled with `seed`)."""
    for item in spec.split(","):
        source, _, count = item.partition(":")
        sessions = sorted(load_folder(traces / source).traces, key=lambda t: t.session_id)
        random.Random(seed).shuffle(sessions)
        yield source, int(count), sessions
