"""Parameters schema and argument validation for Python callables, built with pydantic.

One pydantic model per tool is generated from the signature: each parameter becomes a field
(annotation -> type, default -> default, "Args:" docstring entry -> description). Fields get
internal names `p0, p1, ...` and the parameter name as alias, so parameters may be called
anything (`json`, `schema`, `model_config`) without clashing with BaseModel attributes.

Coercion rules (pydantic "lax" mode, Python input): the model's JSON arguments are accepted when
pydantic can convert them losslessly: numeric strings -> int/float ("3" -> 3), 3.0 -> 3 for
int, int -> float, "true"/"false"/0/1 -> bool, lists -> tuples/sets, dicts -> nested models and
dataclasses, ISO strings -> datetime/date/UUID/Path, str -> Enum/Literal by value. Lossy or
impossible conversions ("abc" -> int, 3.5 -> int) fail. Unknown argument names are rejected
(extra="forbid"); missing required ones are reported by name.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, get_type_hints

import pydantic
from pydantic import ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema

from paste.tools.docstrings import ParsedDocstring, parse_docstring
from paste.tools.errors import ToolArgumentsError, ToolDefinitionError


class _NoFieldTitles(GenerateJsonSchema):
    """Omit the auto-generated per-property "title" keys (noise for the model)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


class SignatureArguments:
    """Validator for one callable's keyword arguments; immutable and thread-safe after init.

    Raises ToolDefinitionError at construction for signatures that cannot be called with JSON
    keyword arguments (*args, **kwargs, positional-only parameters, unresolvable annotations).
    """

    def __init__(self, fn: Callable[..., Any], doc: ParsedDocstring | None = None) -> None:
        doc = doc if doc is not None else parse_docstring(inspect.getdoc(fn))
        try:
            hints = get_type_hints(_annotated(fn), include_extras=True)
        except Exception as e:  # NameError for forward refs that do not resolve, TypeError
            raise ToolDefinitionError(f"cannot resolve type hints of {fn!r}: {e}") from e
        fields: dict[str, Any] = {}
        self._names: list[tuple[str, str]] = []  # (internal field name, parameter name)
        for index, param in enumerate(inspect.signature(fn).parameters.values()):
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise ToolDefinitionError(
                    f"parameter {param.name!r} of {fn!r} is {param.kind.description}; "
                    "tools take named arguments only"
                )
            annotation = hints.get(param.name, Any)
            default = ... if param.default is param.empty else param.default
            description = doc.params.get(param.name) or None
            internal = f"p{index}"
            fields[internal] = (
                annotation,
                Field(default, alias=param.name, description=description),
            )
            self._names.append((internal, param.name))
        try:
            self._model: type[pydantic.BaseModel] = pydantic.create_model(
                f"{getattr(fn, '__name__', 'tool')}_arguments",
                __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
                **fields,
            )
            schema = self._model.model_json_schema(schema_generator=_NoFieldTitles)
        except Exception as e:  # pydantic.PydanticSchemaGenerationError, PydanticUserError
            raise ToolDefinitionError(f"cannot build a parameters schema for {fn!r}: {e}") from e
        schema.pop("title", None)
        schema.setdefault("properties", {})
        schema.setdefault("required", [])
        self.parameters: dict[str, Any] = schema

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Return {parameter name: converted value}; raise ToolArgumentsError listing problems."""
        try:
            instance = self._model.model_validate(dict(arguments))
        except pydantic.ValidationError as e:
            problems = sorted(
                f"{_location(err['loc'])}: {_message(err)}" for err in e.errors(include_url=False)
            )
            raise ToolArgumentsError("; ".join(problems)) from None
        return {name: getattr(instance, internal) for internal, name in self._names}


def _annotated(fn: Callable[..., Any]) -> Any:
    """The object carrying fn's annotations: itself, a partial's func, or a class's __call__."""
    if isinstance(fn, functools.partial):
        return _annotated(fn.func)
    if inspect.isroutine(fn) or inspect.isclass(fn):
        return fn
    return type(fn).__call__


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) if loc else "<arguments>"


def _message(err: Mapping[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown argument"
    if err["type"] == "missing":
        return "missing required argument"
    return str(err["msg"])
