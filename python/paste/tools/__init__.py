"""paste.tools: tool registry (Python callables and MCP servers) and the tool executor.

```python
registry = ToolRegistry()

@registry.tool(effect="read_only", timeout_s=10)
def get_weather(city: str, days: int = 3) -> dict: ...

registry.add_mcp_server([sys.executable, "server.py"], prefix="fs_")
with ToolExecutor(registry) as executor:
    result = executor.submit(ToolJob("call-1", "get_weather", {"city": "Oslo"})).result()
registry.close()
```
"""

from paste.tools.errors import (
    DuplicateToolError,
    ExecutorClosedError,
    McpConnectionError,
    McpToolError,
    ResultSerializationError,
    ToolArgumentsError,
    ToolDefinitionError,
    ToolWaitTimeoutError,
    UnknownToolError,
)
from paste.tools.executor import DEFAULT_MAX_RESULT_BYTES, ToolExecutor
from paste.tools.future import ToolFuture
from paste.tools.registry import ToolRegistry
from paste.tools.results import ErrorKind, ToolJob, ToolResult, render_result
from paste.tools.spec import EffectClass, SpeculationPolicy, ToolSpec

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "DuplicateToolError",
    "EffectClass",
    "ErrorKind",
    "ExecutorClosedError",
    "McpConnectionError",
    "McpToolError",
    "ResultSerializationError",
    "SpeculationPolicy",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "ToolExecutor",
    "ToolFuture",
    "ToolJob",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "ToolWaitTimeoutError",
    "UnknownToolError",
    "render_result",
]
