"""A tiny real MCP server used by paste's tests (stdio transport, mcp SDK's MCPServer).

Run as `python calc_server.py`. Files live under the directory named by the environment
variable CALC_SERVER_ROOT (default: the current directory); paths escaping it are refused.

Tools and their annotations (each maps to one paste effect class):
  add(a, b)              readOnlyHint                      -> read_only
  read_file(path)        readOnlyHint                      -> read_only
  set_value(key, value)  destructiveHint=False, idempotent -> idempotent
  write_note(name, text) destructiveHint=True              -> side_effect
  fail(message)          (no annotations)                  -> side_effect; always an error result
"""

import os
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("calc", log_level="ERROR")
_values: dict[str, str] = {}


def _root() -> Path:
    return Path(os.environ.get("CALC_SERVER_ROOT", ".")).resolve()


def _inside_root(relative: str) -> Path:
    root = _root()
    path = (root / relative).resolve()
    if root != path and root not in path.parents:
        raise ToolError(f"path {relative!r} is outside the server root")
    return path


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def read_file(path: str) -> str:
    """Read a UTF-8 text file below the server root."""
    try:
        return _inside_root(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolError(f"no such file: {path}") from None


@server.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=True))
def set_value(key: str, value: str) -> str:
    """Set an in-memory key to a value; setting it again to the same value changes nothing."""
    _values[key] = value
    return f"{key}={value}"


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
def write_note(name: str, text: str) -> str:
    """Write (overwrite) a note file below the server root."""
    path = _inside_root(name)
    path.write_text(text, encoding="utf-8")
    return f"wrote {len(text.encode('utf-8'))} bytes to {name}"


@server.tool()
def fail(message: str) -> str:
    """Always fail with the given message."""
    raise ToolError(message)


if __name__ == "__main__":
    server.run("stdio")
