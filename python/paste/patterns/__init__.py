"""Trace loaders, pattern mining (PatternStore, per tenant) and next-call prediction.

See docs/patterns.md for the mechanisms and docs/trace_format.md for paste's trace format.
"""

from paste.patterns.errors import PatternStoreError, TenantMismatchError, TraceFormatError
from paste.patterns.loaders import detect_source, load_folder
from paste.patterns.mining import mine
from paste.patterns.predictor import Prediction, Predictor
from paste.patterns.state import SessionState
from paste.patterns.store import PatternStore
from paste.patterns.trace import LoadIssue, LoadResult, Step, ToolCall, Trace

__all__ = [
    "LoadIssue",
    "LoadResult",
    "PatternStore",
    "PatternStoreError",
    "Prediction",
    "Predictor",
    "SessionState",
    "Step",
    "TenantMismatchError",
    "ToolCall",
    "Trace",
    "TraceFormatError",
    "detect_source",
    "load_folder",
    "mine",
]
