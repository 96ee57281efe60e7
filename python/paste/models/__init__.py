"""Model registry, weight sources and the converted-model cache (`paste models ...`).

Importing this package imports neither torch nor transformers; conversion imports them lazily.
"""

from paste.models.errors import (
    ChecksumMismatchError,
    ModelConversionError,
    ModelNotPulledError,
    ModelPackageMissingError,
    UnknownModelError,
)
from paste.models.registry import DEFAULT_MODEL, MODELS, ModelSpec, get_model_spec
from paste.models.store import is_pulled, list_models, model_path, pull_model, resolve_model

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ChecksumMismatchError",
    "ModelConversionError",
    "ModelNotPulledError",
    "ModelPackageMissingError",
    "ModelSpec",
    "UnknownModelError",
    "get_model_spec",
    "is_pulled",
    "list_models",
    "model_path",
    "pull_model",
    "resolve_model",
]
