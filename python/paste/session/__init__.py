"""paste.session: the server-side agent loop (model -> tools -> model ... -> final answer).

```python
registry = ToolRegistry()

@registry.tool(effect="read_only", timeout_s=30, max_concurrency=8)
def search(query: str, top_k: int = 5) -> list[dict]: ...

engine = Engine("smollm2-135m-instruct")
session = open_session(engine, tools=registry, system="...", tenant="acme", max_turns=32)
result = session.run("Find ...")      # SessionResult(status, final_text, messages, metrics)
for event in session.stream("..."):   # TokenDelta | ToolCallEvent | ToolResultEvent | Final
    ...                               # (and TurnRestarted after an engine restart)
session.write_trace("traces/acme.jsonl")
session.close()
```

Module map: session.py (Session, the loop), open.py (open_session), calls.py (one turn's
calls: early dispatch, results in call order), template.py (transcript -> chat template view),
parsers.py (tool-call format per model), events.py, metrics.py (SessionResult, prefix-hit
ratios), trace.py (JSONL trace record), executors.py (shared executor per registry),
restore.py (continuing committed messages), errors.py. Guide: docs/sessions.md.
"""

from paste.session.calls import MALFORMED_KIND, MALFORMED_PREFIX
from paste.session.errors import SessionBusyError, SessionClosedError
from paste.session.events import (
    Final,
    ReasoningDelta,
    SessionEvent,
    Status,
    TokenDelta,
    ToolCallEvent,
    ToolResultEvent,
    TurnRestarted,
)
from paste.session.executors import close_shared_executor, shared_executor
from paste.session.metrics import SessionResult, TurnMetrics
from paste.session.open import open_session
from paste.session.parsers import parser_for_model
from paste.session.session import ModelTurnError, Session, TurnLostError
from paste.session.template import TemplateProfile

__all__ = [
    "MALFORMED_KIND",
    "MALFORMED_PREFIX",
    "Final",
    "ModelTurnError",
    "Session",
    "SessionBusyError",
    "SessionClosedError",
    "SessionEvent",
    "SessionResult",
    "Status",
    "TemplateProfile",
    "ReasoningDelta",
    "TokenDelta",
    "TurnLostError",
    "ToolCallEvent",
    "ToolResultEvent",
    "TurnMetrics",
    "TurnRestarted",
    "close_shared_executor",
    "open_session",
    "parser_for_model",
    "shared_executor",
]
