"""ServerState: what every route of one app shares (engine, config, metrics, sessions,
stored responses, speculation).

The engine is injected: anything with the paste Engine's submit / submit_turn / chat_prompt /
encode / end_session methods (tests wrap a real Engine to script its output). Stored on
`app.state.paste`; `server_state(request)` fetches it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.requests import Request

from paste.engine.request import MAX_LOGPROBS
from paste.engine.stats import served_lora_adapters
from paste.errors import InvalidArgumentError
from paste.server.background_responses import BackgroundResponses
from paste.server.config import ServerConfig
from paste.server.conversation_store import ConversationStore
from paste.server.conversations import Conversations
from paste.server.errors import NotFoundError
from paste.server.generation import api_priority
from paste.server.metrics import ServerMetrics
from paste.server.response_store import ResponseStore
from paste.server.turn import TurnRequest


@dataclass
class ServerState:
    engine: Any
    config: ServerConfig
    parser_format: str
    metrics: ServerMetrics
    sessions: Any  # paste.server.session_store.SessionStore
    created: int
    responses: ResponseStore  # stored Responses API answers (previous_response_id, GET)
    # the Conversations API's conversations (conversation_store.py), as many as responses
    conversation_store: ConversationStore
    speculation: Any = None  # paste.server.speculation.ServerSpeculation, None when off
    coscheduling: Any = None  # paste.session.priority.CoSchedulingPolicy, None when off
    conversations: Conversations = field(default_factory=Conversations)
    # the background Responses turns still running (background_responses.py)
    background: BackgroundResponses = field(init=False)

    def __post_init__(self) -> None:
        self.background = BackgroundResponses(self.responses)
        taken = [name for name, _path in self.lora_adapters if name in self.config.model_names]
        if taken:
            raise InvalidArgumentError(f"LoRA adapter name {taken[0]!r} is also a served model "
                                       f"name (--served-model-name)")

    @property
    def lora_adapters(self) -> tuple[tuple[str, str], ...]:
        """The engine's LoRA adapters now, as (name, path)."""
        return served_lora_adapters(self.engine)

    @property
    def model_names(self) -> list[str]:
        """Every name a request's "model" may give: the served model's, then its adapters'."""
        return [*self.config.model_names, *(name for name, _path in self.lora_adapters)]

    def prioritize(self, turn: TurnRequest) -> None:
        """Sets `turn.priority`: co-scheduling with what is known of its conversation (a
        keyed one's recent turns, conversations.py); the turn counts as started now."""
        outlook = self.conversations.start(turn.cache_key, time.monotonic())
        turn.priority = api_priority(self.coscheduling, self.engine, turn, outlook)

    def on_turn_end(self, key: str | None) -> Callable[[Any, float], None]:
        """run_turn's on_end for a turn of conversation `key`: the turn's metrics, and its
        end in the conversation's record."""
        def record(end: Any, duration_s: float) -> None:
            self.metrics.observe_turn(end, duration_s)
            self.conversations.end(key, time.monotonic(), end.num_completion_tokens,
                                   end.finish_reason == "tool_calls")
        return record

    @property
    def max_logprobs(self) -> int:
        """The most logprob alternatives per token a request may ask for: the engine's
        (--max-logprobs), or the default for an engine that keeps no info (simulated)."""
        info = getattr(self.engine, "info", None)
        return MAX_LOGPROBS if info is None else int(info.max_logprobs)

    def check_model(self, model: str) -> str | None:
        """The LoRA adapter `model` names (None: the base model, under any served name);
        404 model_not_found for anything else."""
        if model in self.config.model_names:
            return None
        if any(model == name for name, _path in self.lora_adapters):
            return model
        served = " or ".join(repr(name) for name in self.model_names)
        raise NotFoundError(
            f"the model {model!r} does not exist; this server serves {served}",
            param="model",
            code="model_not_found",
        )

    def select_model(self, model: str, turns: Iterable[TurnRequest]) -> None:
        """check_model, and the turns run the adapter `model` names (or the base model);
        counted by model on /metrics."""
        lora = self.check_model(model)
        self.metrics.model_requests.labels(model=model).inc()
        for turn in turns:
            turn.params = replace(turn.params, lora=lora)


def server_state(request: Request) -> ServerState:
    return request.app.state.paste  # type: ignore[no-any-return]
