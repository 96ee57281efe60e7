"""Typed errors of the patterns package (trace loading, pattern stores, prediction)."""

from __future__ import annotations

from paste.errors import InvalidArgumentError, PasteError


class TraceFormatError(InvalidArgumentError):
    """A trace folder or record does not have the layout its source kind requires.

    Raised for whole-folder problems (unknown source kind, missing files). A single malformed
    record never raises: loaders report it as a `LoadIssue` and skip it.
    """


class TenantMismatchError(InvalidArgumentError):
    """A trace of one tenant was offered to the PatternStore of another tenant."""


class PatternStoreError(PasteError):
    """A saved PatternStore file cannot be read back (wrong version or corrupt)."""
