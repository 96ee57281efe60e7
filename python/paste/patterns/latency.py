"""Expected tool latency per call kind.

Measured timings from the traces (`timings["tool_s"]`, mean per kind) win; otherwise a prior by
tool family from public agent runs (../shared/traces/README.md, p50 values): web search 1.0 s,
file view/edit 0.15 s, grep/find 0.11 s, a script run 0.7 s, a test run 6.5 s; in-process
function-calling tools (DB lookups) 0.05 s. A kind belongs to a family when one of the words of
its name (split at non-alphanumerics) is a family word.
"""

from __future__ import annotations

import re

_FAMILIES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("pytest", "tox", "test"), 6.5),
    (("search", "google", "bing", "serp"), 1.0),
    (("fetch", "visit", "curl", "wget", "browse", "click"), 2.1),
    (("grep", "find", "rg", "ag"), 0.11),
    (
        (
            "cat",
            "sed",
            "nl",
            "head",
            "tail",
            "open",
            "edit",
            "create",
            "ls",
            "goto",
            "scroll",
            "insert",
            "echo",
            "rm",
            "mv",
            "cp",
            "touch",
            "mkdir",
        ),
        0.15,
    ),
    (("python", "python3", "node", "bash", "sh"), 0.7),
)
DEFAULT_S = 0.05


def expected_latency(kind: str, measured: dict[str, list[float]]) -> float:
    """Mean measured tool seconds of `kind` if any, else the family prior (see module doc)."""
    acc = measured.get(kind)
    if acc and acc[1] > 0:
        return acc[0] / acc[1]
    words = set(re.split(r"[^a-z0-9]+", kind.split(":", 1)[-1].lower()))
    for family, seconds in _FAMILIES:
        if words.intersection(family):
            return seconds
    return DEFAULT_S
