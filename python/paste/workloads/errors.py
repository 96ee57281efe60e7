"""Typed errors of the live workloads: what a tool raises on bad input, so its result is clear.

Every class is a `WorkloadToolError` (a paste `InvalidArgumentError`, hence a ValueError). A
tool that raises one gives the model the result `tool 'NAME' raised CLASS: message`
(ToolResult.error_kind `tool_error`), and the session goes on.
"""

from __future__ import annotations

from paste.errors import InvalidArgumentError


class WorkloadToolError(InvalidArgumentError):
    """Base class: a live workload tool refused its input."""


class PageNotFoundError(WorkloadToolError, LookupError):
    """fetch: the local web server has no such page (HTTP 404)."""


class DestinationError(WorkloadToolError):
    """fetch: the URL is not on the local corpus server (only that host is ever contacted)."""


class BadPatternError(WorkloadToolError):
    """grep: the pattern is not a valid extended regular expression."""


class PathEscapeError(WorkloadToolError):
    """A path resolves outside the session's repository copy."""


class EditError(WorkloadToolError):
    """edit: the line does not contain the text to replace, or the line does not exist."""


class UnknownDatasetError(WorkloadToolError, LookupError):
    """science: no dataset or model of that name."""


class ComputationError(WorkloadToolError):
    """science: the computation failed (no convergence, bad bounds, no sign change)."""
