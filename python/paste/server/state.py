"""ServerState: what every route of one app shares (engine, config, metrics, sessions,
stored responses, speculation).

The engine is injected: anything with the paste Engine's submit / submit_turn / chat_prompt /
encode / end_session methods (tests wrap a real Engine to script its output). Stored on
`app.state.paste`; `server_state(request)` fetches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from paste.server.config import ServerConfig
from paste.server.errors import NotFoundError
from paste.server.metrics import ServerMetrics
from paste.server.response_store import ResponseStore


@dataclass
class ServerState:
    engine: Any
    config: ServerConfig
    parser_format: str
    metrics: ServerMetrics
    sessions: Any  # paste.server.session_store.SessionStore
    created: int
    responses: ResponseStore  # stored Responses API answers (previous_response_id, GET)
    speculation: Any = None  # paste.server.speculation.ServerSpeculation, None when off
    coscheduling: Any = None  # paste.session.priority.CoSchedulingPolicy, None when off

    def check_model(self, model: str) -> None:
        """404 model_not_found unless `model` is the served model id."""
        if model != self.config.model_id:
            raise NotFoundError(
                f"the model {model!r} does not exist; this server serves {self.config.model_id!r}",
                param="model",
                code="model_not_found",
            )


def server_state(request: Request) -> ServerState:
    return request.app.state.paste  # type: ignore[no-any-return]
