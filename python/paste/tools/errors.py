"""Typed errors of paste.tools.

Registration and lookup mistakes made by the caller raise subclasses of `InvalidArgumentError`
(a ValueError). Failures of a tool *call* never raise: the executor turns them into a
`ToolResult` with ok=False. The argument errors below are raised by validators and caught by the
executor, which copies their message into that result.
"""

from paste.errors import InvalidArgumentError, PasteError


class UnknownToolError(InvalidArgumentError, KeyError):
    """No tool of this name is registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class DuplicateToolError(InvalidArgumentError):
    """A tool of this name is already registered."""


class ToolDefinitionError(InvalidArgumentError):
    """A callable or MCP tool cannot be turned into a tool (bad signature, options or schema)."""


class ToolArgumentsError(InvalidArgumentError):
    """Arguments of a call do not satisfy the tool's parameters schema.

    The message lists every problem as `<location>: <problem>`, sorted by location, so the same
    bad call always produces the same text (it is shown to the model).
    """


class ResultSerializationError(PasteError, TypeError):
    """A tool returned a value that cannot be rendered as text for the model."""


class McpToolError(PasteError, RuntimeError):
    """An MCP server answered a call with an error result (isError) or a protocol error."""


class McpConnectionError(PasteError, RuntimeError):
    """An MCP server could not be started, initialised or listed, or its session is closed."""


class ExecutorClosedError(PasteError, RuntimeError):
    """A job was submitted to a ToolExecutor after shutdown()."""


class ToolWaitTimeoutError(PasteError, TimeoutError):
    """ToolFuture.result(timeout) returned before the job finished (the job keeps running)."""
