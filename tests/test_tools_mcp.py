"""MCP end to end: tests/mcp_servers/calc_server.py over stdio, through registry and executor."""

import sys
from pathlib import Path

import pytest

from paste.tools import (
    DuplicateToolError,
    EffectClass,
    McpConnectionError,
    ToolExecutor,
    ToolJob,
    ToolRegistry,
)

SERVER = Path(__file__).parent / "mcp_servers" / "calc_server.py"
WAIT_S = 30.0  # never reached when the code is right


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("calc_root")
    (root / "hello.txt").write_text("hello from disk", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def registry(root: Path):
    registry = ToolRegistry()
    registry.add_mcp_server(
        [sys.executable, str(SERVER)], env={"CALC_SERVER_ROOT": str(root)}, prefix="calc_"
    )
    yield registry
    registry.close()


@pytest.fixture(scope="module")
def executor(registry: ToolRegistry):
    executor = ToolExecutor(registry)
    yield executor
    executor.shutdown()


def _run(executor: ToolExecutor, name: str, arguments) -> tuple:
    r = executor.submit(ToolJob("m1", name, arguments)).result(WAIT_S)
    return (r.ok, r.content, r.error, r.error_kind)


def test_tools_are_listed_with_effects_and_schemas(registry: ToolRegistry):
    effects = {name: registry.get(name).effect for name in registry.names()}
    assert effects == {
        "calc_add": EffectClass.READ_ONLY,
        "calc_read_file": EffectClass.READ_ONLY,
        "calc_set_value": EffectClass.IDEMPOTENT,
        "calc_write_note": EffectClass.SIDE_EFFECT,
        "calc_fail": EffectClass.SIDE_EFFECT,
    }
    assert registry.openai_tools()[0] == {
        "type": "function",
        "function": {
            "name": "calc_add",
            "description": "Add two integers.",
            "parameters": {
                "type": "object",
                "properties": {
                    "a": {"title": "A", "type": "integer"},
                    "b": {"title": "B", "type": "integer"},
                },
                "required": ["a", "b"],
            },
        },
    }
    spec = registry.get("calc_write_note")
    assert (spec.isolation, spec.is_async, spec.metadata["mcp_name"]) == ("mcp", True, "write_note")


def test_calls_go_through_the_session(executor: ToolExecutor, root: Path):
    assert _run(executor, "calc_add", {"a": 2, "b": 40}) == (True, "42", None, None)
    assert _run(executor, "calc_read_file", {"path": "hello.txt"}) == (
        True, "hello from disk", None, None,
    )  # fmt: skip
    assert _run(executor, "calc_write_note", {"name": "n.txt", "text": "é"}) == (
        True, "wrote 2 bytes to n.txt", None, None,
    )  # fmt: skip
    assert (root / "n.txt").read_text(encoding="utf-8") == "é"
    assert _run(executor, "calc_set_value", '{"key": "k", "value": "v"}') == (
        True,
        "k=v",
        None,
        None,
    )


def test_errors_from_the_server_and_from_validation(executor: ToolExecutor):
    message = "tool 'calc_fail' returned an error: Error executing tool fail: out of paper"
    assert _run(executor, "calc_fail", {"message": "out of paper"}) == (
        False, message, message, "tool_error",
    )  # fmt: skip
    message = (
        "tool 'calc_read_file' returned an error: Error executing tool read_file: "
        "path '../secret' is outside the server root"
    )
    assert _run(executor, "calc_read_file", {"path": "../secret"}) == (
        False, message, message, "tool_error",
    )  # fmt: skip
    message = (
        "invalid arguments for tool 'calc_add': <arguments>: 'b' is a required property; "
        "a: 'two' is not of type 'integer'; c: unknown argument"
    )
    assert _run(executor, "calc_add", {"a": "two", "c": 1}) == (
        False, message, message, "invalid_arguments",
    )  # fmt: skip


def test_name_clash_stops_the_new_server_and_registers_nothing(registry: ToolRegistry):
    before = registry.names()
    with pytest.raises(DuplicateToolError, match="MCP tools clash with registered tools"):
        registry.add_mcp_server([sys.executable, str(SERVER)], prefix="calc_")
    assert registry.names() == before


def test_server_that_cannot_start_raises_a_typed_error():
    registry = ToolRegistry()
    try:
        with pytest.raises(McpConnectionError, match="failed to start"):
            registry.add_mcp_server([sys.executable, "-c", "import sys; sys.exit(2)"])
        assert registry.names() == []
    finally:
        registry.close()
