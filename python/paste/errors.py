"""Typed errors shared by every layer of paste.

Three tiers of checks (STYLE.md): user input raises a subclass of `InvalidArgumentError`
(a ValueError, so callers that catch ValueError keep working); broken internal invariants raise
`InternalError`; debug-only checks are compiled out of release builds. The C++ core throws
paste::InvalidArgument / paste::UnknownSequence / paste::OutOfBlocks / paste::QueueFull /
paste::InternalError and
the bindings translate them to the classes below.
"""


class PasteError(Exception):
    """Base class of every error paste raises on purpose."""


class InvalidArgumentError(PasteError, ValueError):
    """A caller passed a value paste cannot accept; nothing was changed."""


class UnknownSequenceError(InvalidArgumentError, KeyError):
    """A sequence id that the scheduler does not know (never added, or already freed)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class OutOfBlocksError(PasteError, RuntimeError):
    """The KV-cache block pool cannot hold what was asked, even after eviction."""


class QueueFullError(PasteError, RuntimeError):
    """A bounded queue (the tool dispatch queue) has no room; nothing was queued."""


class CudaUnavailableError(PasteError, RuntimeError):
    """A CUDA kernel cannot run here: paste was built without CUDA, no driver or GPU can be
    used, or the CUDA runtime rejected the launch. Nothing was written."""


class InternalError(PasteError, RuntimeError):
    """An invariant of paste itself was broken: a bug, please report it."""
