"""Plain data crossing the executor boundary: ToolJob in, ToolResult out, and result rendering.

Times are `time.monotonic()` seconds (same clock as the engine loop), so queue_s and tool_s can
be compared with any other engine timestamp. `content` is exactly what the model will see.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

from paste.tools.errors import ResultSerializationError

ErrorKind = Literal[
    "unknown_tool",  # no tool of that name
    "invalid_arguments",  # arguments are not JSON or fail the parameters schema
    "tool_error",  # the tool raised (or an MCP server returned an error result)
    "timeout",  # the tool ran past its timeout_s and was cancelled / abandoned / killed
    "crashed",  # the isolated process died without a result (os._exit, signal)
    "truncated",  # ok=True: the rendered result exceeded the size limit and was cut
    "cancelled",  # ToolFuture.cancel() or executor shutdown ended the job
    "not_speculable",  # a speculative job for a tool/destination that forbids speculation
    "queue_full",  # the tool's lane already held max_queued_per_tool waiting jobs; never ran
]

TRUNCATION_MARKER = "…[truncated {num_bytes} bytes]"


@dataclass(frozen=True)
class ToolJob:
    """One call to run. `arguments` may be a mapping or the model's raw JSON text.

    speculative jobs are refused (error_kind "not_speculable") unless the tool allows them; when
    the tool has a sandbox, speculative jobs run the sandbox instead of the tool.
    `timeout_s` overrides the tool's own timeout for this job only. `session_id` is carried for
    the caller (staging, metrics); the executor itself does not use it.
    """

    call_id: str
    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    session_id: str | None = None
    speculative: bool = False
    timeout_s: float | None = None


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one job. ok=False results carry `error` and their content is the message."""

    call_id: str
    name: str
    ok: bool
    content: str
    error: str | None
    error_kind: ErrorKind | None
    started_at: float
    finished_at: float
    queue_s: float
    tool_s: float

    @property
    def is_error(self) -> bool:
        return not self.ok


def render_result(value: Any) -> str:
    """Deterministic text for a tool's return value.

    str as-is; pydantic models via model_dump(mode="json"); dataclass instances via asdict; every
    other value via json.dumps(sort_keys=False, ensure_ascii=False). Raise
    ResultSerializationError if the value is not JSON-serialisable.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        return json.dumps(value, sort_keys=False, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ResultSerializationError(
            f"result of type {type(value).__name__} is not JSON-serialisable: {e}"
        ) from None


def truncate_content(content: str, max_bytes: int) -> tuple[str, int]:
    """Cut content to at most max_bytes of UTF-8 (never inside a character) plus the marker.

    Returns (text, number of dropped bytes); dropped == 0 means content is returned unchanged.
    """
    data = content.encode("utf-8")
    if len(data) <= max_bytes:
        return content, 0
    kept = data[:max_bytes].decode("utf-8", errors="ignore")
    dropped = len(data) - len(kept.encode("utf-8"))
    return kept + TRUNCATION_MARKER.format(num_bytes=dropped), dropped
