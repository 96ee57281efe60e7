"""Typed errors of the model registry and `paste models pull`.

Every error that a user can fix carries the command that fixes it in its message.
"""

from __future__ import annotations

from paste.errors import InvalidArgumentError, PasteError


class UnknownModelError(InvalidArgumentError, KeyError):
    """A model name that the registry does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class ModelPackageMissingError(PasteError, FileNotFoundError):
    """A pip package that ships a model's weights is not installed (or lacks its file)."""


class ChecksumMismatchError(PasteError, ValueError):
    """Assembled weights do not have the sha256 the registry pins: wrong or damaged download."""


class ModelNotPulledError(PasteError, FileNotFoundError):
    """A model was asked for by name but has not been converted into PASTE_HOME yet."""


class ModelConversionError(PasteError, RuntimeError):
    """transformers could not read the GGUF file or write the converted folder."""
