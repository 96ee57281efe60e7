"""ChangeLog: what a PatternStore's passes changed since its derived views were last all
dropped, so that a Predictor refreshes only those (Predictor.refresh).

Each pass over a session (observe, score_rules, calibrate) records the holes, templates and
kinds whose counts it changed (`Changes`). A predictor keeps the `mark` it refreshed at and
asks for the changes `since` it: None when the views were all dropped in between (`reset`:
a store changed directly, or more than MAX_CHANGES passes logged), so everything may have
changed.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_CHANGES = 256  # passes logged before the next one drops every view


class Changes(NamedTuple):
    """The hole keys, templates (kind SEP template key) and kinds whose counts a pass over one
    session changed."""

    holes: set[str]
    templates: set[str]
    kinds: set[str]


class ChangeLog:
    def __init__(self) -> None:
        self._epoch = 0  # bumped by each reset
        self._changes: list[Changes] = []

    def add(self, changed: Changes) -> bool:
        """Logs one pass's changes; False when the log is full (the store then drops every
        view and resets the log)."""
        if len(self._changes) >= MAX_CHANGES:
            return False
        self._changes.append(changed)
        return True

    def reset(self) -> None:
        """Every view was dropped: the changes logged so far no longer matter."""
        self._epoch += 1
        self._changes = []

    def since(self, mark: tuple[int, int]) -> list[Changes] | None:
        """What the passes changed since `mark`, or None when the log was reset since."""
        epoch, seen = mark
        return self._changes[seen:] if epoch == self._epoch else None

    def mark(self) -> tuple[int, int]:
        """Where the log stands now (for `since`)."""
        return self._epoch, len(self._changes)
