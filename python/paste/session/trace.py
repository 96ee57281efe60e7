"""A session as one record of paste's JSONL trace format (read by
paste.patterns.loaders.paste_jsonl):

    {"session_id", "tenant", "messages": [OpenAI chat messages], "tools": [offered tools],
     "timings": {<tool call id>: {"started_at", "queue_s", "tool_s", "observed_s",
                                  "dispatched_at"},
                 <message index as a string>: {"started_at", "model_s", "num_prompt_tokens",
                                               "num_cached_tokens", "prefix_hit_ratio"}},
     "status", "metrics", "started_at_unix", "environment"}

Times are seconds; every `started_at`/`dispatched_at` is relative to the session start
(`started_at_unix` anchors it to wall-clock time). `tools` lists the session's offered tools as
OpenAI function tools by name (the predictor then only predicts those). Tool messages of failed calls carry
`"status": "error"` so loaders need not guess. `environment` (only when the session was opened
with one) is the state its tools acted on, as given (the loader keeps it as `Trace.env`).
Extra keys are ignored by the loader.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from paste.patterns.loaders.paste_jsonl import tools_field

_WRITE_LOCK = threading.Lock()


def trace_record(
    session_id: str,
    tenant: str,
    messages: list[dict[str, Any]],
    failed_call_ids: set[str],
    timings: dict[str, dict[str, float]],
    status: str | None,
    metrics: dict[str, Any],
    started_at_unix: float,
    tools: list[str] | None = None,
    params: dict[str, tuple[str, ...]] | None = None,
    docs: dict[str, str] | None = None,
    environment: Any = None,
) -> dict[str, Any]:
    """The JSON object of one session (copies; the inputs are not modified)."""
    out = []
    for message in messages:
        message = json.loads(json.dumps(message))
        if message["role"] == "tool" and message.get("tool_call_id") in failed_call_ids:
            message["status"] = "error"
        out.append(message)
    record: dict[str, Any] = {
        "session_id": session_id,
        "tenant": tenant,
        "messages": out,
        "timings": {k: dict(v) for k, v in timings.items()},
        "status": status,
        "metrics": metrics,
        "started_at_unix": started_at_unix,
    }
    if tools is not None:
        record["tools"] = tools_field(tools, params, docs)
    if environment is not None:
        record["environment"] = json.loads(json.dumps(environment))
    return record


def append_record(record: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Append `record` as one line to the JSONL file at `path` (created with its folder).

    Appends from threads of this process are serialised, so concurrent sessions writing one
    file never interleave lines.
    """
    line = json.dumps(record, ensure_ascii=False) + "\n"
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _WRITE_LOCK, target.open("a", encoding="utf-8") as f:
        f.write(line)
