"""Which tool-call format a model writes: a small table by model name, then architecture.

The first row whose pattern occurs in the lower-cased model name (a registry name or a folder
path) wins; then the architecture (`config.json` model_type); then "json", the most lenient
format (bare or fenced JSON objects anywhere in the text, which also finds a JSON call inside
`<tool_call>` tags). Callers override all of this with `open_session(..., parser="hermes")`.

Mistral models write one of two layouts (parsing/mistral.py); the folder's tokenizer says
which: one with an `[ARGS]` control token (tokenizers v11+: Mistral Small 3.2, Devstral,
Magistral) writes "mistral_args", any other "mistral".
"""

from __future__ import annotations

import json
from pathlib import Path

from paste.parsing import get_parser_names
from paste.parsing.errors import UnknownFormatError

DEFAULT_FORMAT = "json"

# (substring of the model name, format). More specific rows first.
NAME_FORMATS: tuple[tuple[str, str], ...] = (
    ("qwen2.5-coder", "json"),  # writes bare or fenced JSON despite its <tool_call> template
    ("qwen", "hermes"),
    ("hermes", "hermes"),
    ("llama-3", "llama3_json"),
    ("llama3", "llama3_json"),
    ("llama-4", "pythonic"),
    ("smollm", "json"),
    ("mistral", "mistral"),  # also Ministral; refined by the tokenizer (module docstring)
    ("mixtral", "mistral"),
    ("devstral", "mistral"),
    ("magistral", "mistral"),
)

# config.json model_type -> format, for folders whose name says nothing.
ARCH_FORMATS: dict[str, str] = {"qwen2": "hermes", "qwen3": "hermes", "mistral": "mistral"}
_TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")


def check_format(name: str) -> str:
    """`name` if it is a known parser format; UnknownFormatError (a ValueError) otherwise."""
    names = get_parser_names()
    if name not in names:
        raise UnknownFormatError(f"unknown tool-call format {name!r}; known: {', '.join(names)}")
    return name


def parser_for_model(model: str, folder: Path | None = None) -> str:
    """The tool-call format of `model` (see the module docstring for the lookup order)."""
    lowered = model.lower()
    fmt = next((f for pattern, f in NAME_FORMATS if pattern in lowered), None)
    if fmt is None:
        model_type = _model_type(folder) if folder is not None else None
        fmt = ARCH_FORMATS.get(model_type or "", DEFAULT_FORMAT)
    if fmt == "mistral" and folder is not None and _has_args_token(folder):
        return "mistral_args"
    return fmt


def _has_args_token(folder: Path) -> bool:
    """Whether the folder's tokenizer has Mistral's `[ARGS]` control token."""
    for name in _TOKENIZER_FILES:
        try:
            if '"[ARGS]"' in (folder / name).read_text(encoding="utf-8"):
                return True
        except (OSError, ValueError):
            continue
    return False


def _model_type(folder: Path) -> str | None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = config.get("model_type") if isinstance(config, dict) else None
    return value if isinstance(value, str) else None


def parser_for_engine(engine: object) -> str:
    """parser_for_model for an Engine: its configured model name and its resolved folder."""
    from paste.errors import PasteError
    from paste.models.store import resolve_model

    model = str(getattr(getattr(engine, "config", None), "model", "") or "")
    try:
        folder: Path | None = resolve_model(model) if model else None
    except PasteError:
        folder = None
    return parser_for_model(model, folder)
