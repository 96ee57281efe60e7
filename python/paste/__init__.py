"""paste: an agent-serving engine that takes tool latency off the critical path.

`import paste` needs no GPU and no compiled CUDA: the native core (`paste._core`) is a CPU
extension, and GPU libraries (Triton, FlashInfer) are imported inside the functions that use them.
"""

from typing import TYPE_CHECKING, Any

from paste.errors import (
    InvalidArgumentError,
    OutOfBlocksError,
    PasteError,
    UnknownSequenceError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from paste.engine.engine import Engine
    from paste.session import Session, open_session
    from paste.tools import ToolRegistry

# Public names imported on first use, so `import paste` stays light (no torch, no pydantic).
_LAZY = {
    "Engine": "paste.engine.engine",
    "ToolRegistry": "paste.tools",
    "Session": "paste.session",
    "open_session": "paste.session",
}

__all__ = [
    "Engine",
    "InvalidArgumentError",
    "OutOfBlocksError",
    "PasteError",
    "Session",
    "ToolRegistry",
    "UnknownSequenceError",
    "__version__",
    "open_session",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'paste' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
