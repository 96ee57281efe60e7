"""Seeded tool-latency model of the trace replay: one lognormal per tool family.

Each family's lognormal is fitted to a median (p50) and a 90th percentile (p90) measured in
public agent runs (../shared/traces/README.md): mu = ln(p50), sigma = ln(p90 / p50) / z90 with
z90 = 1.2816 the standard normal's 90th percentile. A draw is keyed by (seed, session id,
canonical call), so the same call of the same session takes the same time in every mode and
in speculative and authoritative runs alike. Draws are capped at `max_latency_s`.

| family | p50 / p90 (s) | calls |
|---|---|---|
| web_search | 1.0 / 1.5 | a `search` tool (FireAct's Wikipedia search) |
| search_fetch | 2.1 / 13.0 | page fetches: curl, wget, fetch, browse, visit |
| file_view | 0.15 / 0.17 | cat, nl, head, tail, sed -n, ls, open, goto, scroll, ... |
| file_edit | 0.15 / 0.17 | edit, create, insert, sed -i, rm, mv, cp, mkdir, touch, redirects |
| grep_find | 0.11 / 0.12 | grep, find, find_file, search_file, search_dir |
| script | 0.7 / 2.2 | python/bash scripts and other commands |
| tests | 6.5 / 20.0 | pytest, runtests.py, bin/test, tox, unittest (heavy tail) |
| api | 0.3 / 0.9 | function-calling tools (tau-bench, BFCL, ToolBench): a remote API round trip |
| local | 0.002 / 0.005 | pure tools evaluated in the agent's process: think, calculate, unit conversions |

The `api` row is our choice: the published runs measure no function-calling backends; 0.3 s
median with a 3x p90 is a typical REST call. Every row can be overridden per family, tool name
or call kind (`--latency NAME=P50[:P90]`).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

from paste.bench.classify import family_of
from paste.errors import InvalidArgumentError

Z90 = 1.2815515655446004

DEFAULT_FAMILIES: dict[str, tuple[float, float]] = {
    "web_search": (1.0, 1.5),
    "search_fetch": (2.1, 13.0),
    "file_view": (0.15, 0.17),
    "file_edit": (0.15, 0.17),
    "grep_find": (0.11, 0.12),
    "script": (0.7, 2.2),
    "tests": (6.5, 20.0),
    "api": (0.3, 0.9),
    "local": (0.002, 0.005),
}


def parse_override(text: str) -> tuple[str, tuple[float, float]]:
    """`NAME=P50[:P90]` -> (NAME, (p50, p90)); p90 defaults to p50 (no spread)."""
    name, sep, value = text.partition("=")
    try:
        parts = [float(v) for v in value.split(":")] if sep else []
    except ValueError:
        parts = []
    if not name or len(parts) not in (1, 2) or parts[0] < 0 or parts[-1] < parts[0]:
        raise InvalidArgumentError(
            f"--latency expects NAME=P50[:P90] with P90 >= P50 >= 0, got {text!r}"
        )
    return name, (parts[0], parts[-1])


@dataclass
class LatencyModel:
    """Seeded per-(session, call) latencies; see the module docstring."""

    seed: int = 0
    overrides: dict[str, tuple[float, float]] = field(default_factory=dict)
    max_latency_s: float = 60.0

    def quantiles(self, name: str, kind: str) -> tuple[float, float]:
        """(p50, p90) of a call: override by kind, then tool name, then family."""
        family = family_of(name, kind)
        for key in (kind, name, family):
            if key in self.overrides:
                return self.overrides[key]
        return DEFAULT_FAMILIES[family]

    def draw(self, session_id: str, name: str, kind: str, canonical: str) -> float:
        """Seconds this call takes in this session (deterministic for a seed)."""
        p50, p90 = self.quantiles(name, kind)
        if p50 <= 0:
            return 0.0
        key = f"{self.seed}\x00{session_id}\x00{canonical}".encode()
        rng = random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
        sigma = math.log(p90 / p50) / Z90 if p90 > p50 else 0.0
        return min(self.max_latency_s, rng.lognormvariate(math.log(p50), sigma))
