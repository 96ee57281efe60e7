"""paste: an agent-serving engine that takes tool latency off the critical path.

`import paste` needs no GPU and no compiled CUDA: the native core (`paste._core`) is a CPU
extension, and GPU libraries (Triton, FlashInfer) are imported inside the functions that use them.
"""

from paste.errors import (
    InvalidArgumentError,
    OutOfBlocksError,
    PasteError,
    UnknownSequenceError,
)

__version__ = "0.1.0"

__all__ = [
    "InvalidArgumentError",
    "OutOfBlocksError",
    "PasteError",
    "UnknownSequenceError",
    "__version__",
]
