"""Typed errors of paste.session."""

from __future__ import annotations

from paste.errors import InvalidArgumentError, PasteError


class SessionBusyError(PasteError, RuntimeError):
    """A session was asked to run while one of its runs is still in progress.

    A Session is driven by one caller at a time; run many sessions for concurrency.
    """


class SessionClosedError(InvalidArgumentError):
    """The session was closed; open a new one."""
