"""Argument validation against a JSON Schema (used for MCP tools, whose inputSchema is given).

Validation uses the `jsonschema` package (a dependency of the `mcp` SDK) with the validator
class the schema's "$schema" names (Draft 2020-12 when absent). No coercion happens: JSON
arguments must already have the declared types; the MCP server converts them itself. Unknown
argument names are rejected unless the schema explicitly allows additional properties, to match
the Python-tool rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paste.tools.errors import ToolArgumentsError, ToolDefinitionError


class JsonSchemaArguments:
    """Validator for one JSON Schema of an object; immutable and thread-safe after init."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        import jsonschema  # lazy: only MCP users need it

        schema = dict(schema)
        if schema.get("type", "object") != "object":
            raise ToolDefinitionError(f"a tool's input schema must describe an object: {schema}")
        schema.setdefault("type", "object")
        validator_cls = jsonschema.validators.validator_for(
            schema, default=jsonschema.Draft202012Validator
        )
        try:
            validator_cls.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise ToolDefinitionError(f"invalid input schema: {e.message}") from e
        self._validator = validator_cls(schema)
        self._properties = set(schema.get("properties", {}))
        self._closed = "additionalProperties" not in schema and "patternProperties" not in schema
        self.parameters: dict[str, Any] = schema

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Return a plain copy of arguments; raise ToolArgumentsError listing every problem."""
        arguments = dict(arguments)
        problems = [
            f"{_location(err.absolute_path)}: {err.message}"
            for err in self._validator.iter_errors(arguments)
        ]
        if self._closed:
            problems += [
                f"{name}: unknown argument" for name in arguments if name not in self._properties
            ]
        if problems:
            raise ToolArgumentsError("; ".join(sorted(problems)))
        return arguments


def _location(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<arguments>"
