"""Tool-call formats by name: the one place that lists them.

`StreamingToolCallParser(format=...)` resolves its format here; an unknown name raises
UnknownFormatError listing the known ones. `register_format` lets a deployment add a format
(e.g. a model-specific template) without editing this package.
"""

from __future__ import annotations

from paste.parsing.errors import ToolCallParseError, UnknownFormatError
from paste.parsing.hermes import HERMES
from paste.parsing.json_format import JSON_FORMAT
from paste.parsing.llama3 import LLAMA3_JSON
from paste.parsing.mistral import MISTRAL, MISTRAL_ARGS
from paste.parsing.pythonic import PYTHONIC
from paste.parsing.spec import FormatSpec

_FORMATS: dict[str, FormatSpec] = {
    spec.name: spec for spec in (HERMES, JSON_FORMAT, LLAMA3_JSON, MISTRAL, MISTRAL_ARGS, PYTHONIC)
}


def get_parser_names() -> list[str]:
    """Names accepted by `StreamingToolCallParser(format=...)`, sorted."""
    return sorted(_FORMATS)


def get_format(name: str) -> FormatSpec:
    """The spec registered under `name`; raises UnknownFormatError otherwise."""
    spec = _FORMATS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise UnknownFormatError(
            f"unknown tool-call format {name!r}; known formats: {', '.join(get_parser_names())}"
        )
    return spec


def register_format(spec: FormatSpec) -> None:
    """Add a format; raises ToolCallParseError if its name is already taken."""
    if spec.name in _FORMATS:
        raise ToolCallParseError(f"tool-call format {spec.name!r} is already registered")
    _FORMATS[spec.name] = spec
