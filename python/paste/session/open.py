"""open_session: a Session on an Engine with a ToolRegistry, with per-model defaults."""

from __future__ import annotations

import json
import uuid
from typing import Any

from paste.errors import InvalidArgumentError
from paste.patterns.loaders.openai_messages import tool_docs, tool_params
from paste.patterns.values import stated_date
from paste.session.executors import shared_executor
from paste.session.parsers import check_format, parser_for_engine
from paste.session.session import Session, TurnParams

DEFAULT_MAX_TOKENS = 512


def open_session(
    engine: Any,
    tools: Any = None,
    system: str | None = None,
    *,
    tenant: str = "default",
    max_turns: int = 32,
    parser: str | None = None,
    turn_params: TurnParams = None,
    executor: Any = None,
    session_id: str | None = None,
    priority: float = 0.0,
    pin_ttl_s: float = 30.0,
    assistant_view: str = "raw",
    speculator: Any = None,
    early_dispatch: bool = True,
    kv_retention: bool = True,
    coscheduling: Any = None,
    strict_calls: bool = False,
    environment: Any = None,
    on_commit: Any = None,
    reasoning: Any = None,
) -> Session:
    """A new agent session on `engine` (a paste Engine).

    tools: a paste.tools.ToolRegistry (None: no tools; a call then gets an "unknown tool"
        error). system: the system message, if any. tenant: recorded in the trace.
    max_turns: model turns per run (>= 1); a run that needs more ends with status "max_turns".
    parser: tool-call format ("hermes", "json", "llama3_json", "mistral", "mistral_args",
        "pythonic"); default by model
        (paste.session.parsers). turn_params: GenerationParams for every turn, or a function
        (messages so far) -> GenerationParams called before each turn (scripted agents return
        forced_tokens); default greedy with max_tokens=512.
    executor: the paste.tools.ToolExecutor to run calls on; default one shared per registry
        (paste.session.executors). session_id: the engine session key; default
        "<tenant>-<random hex>". priority, pin_ttl_s: passed to Engine.submit_turn.
    assistant_view: how the model's own earlier turns are rendered, "raw" (its exact text: full
        KV reuse) or "template" (OpenAI tool_calls rendered by the chat template); see
        paste.session.template.
    speculator: a paste.speculation.Speculator shared by the engine's sessions: predicted calls
        run early and the session's real calls are resolved against them (None: serial tools).
    early_dispatch, kv_retention: ablation switches (see Session); both on by default.
    coscheduling: a paste.session.priority.CoSchedulingPolicy boosting turns that return from
        tools (None: every turn runs at `priority`).
    strict_calls: constrain every call the model opens to a whole call of one of the
        registry's tools with arguments of its schema (paste.parsing.call_text.calls_spec; not
        for teacher-forced turns).
    environment: the state the session's tools act on, when the application knows it (a JSON
        value: a file tree, an account, BFCL's initial_config); with a speculator, its values
        are indexed for argument prediction (the folder a first `cd` enters). The model does
        not see it; the session's trace records it (`environment`), so a store mined or
        updated from the trace indexes it too.
    on_commit: called as each message is committed, with the message, the model's raw text
        (assistant messages, else None) and whether the call succeeded (tool messages, else
        None); server/session_journal.py writes them down. Session.on_commit can be set later.
    reasoning: a paste.parsing.reasoning.ReasoningTags: a reasoning model's thinking is
        yielded as ReasoningDelta, kept out of the committed messages' content and of the
        final answer, and never parsed for tool calls (None: all output is answer).
    Raises InvalidArgumentError (a ValueError) for a bad max_turns, parser or assistant_view,
    or an environment that is not JSON (it is copied: later changes of the caller's object do
    not reach the session).
    """
    from paste.engine.request import GenerationParams
    from paste.tools import ToolRegistry

    registry = tools if tools is not None else ToolRegistry()
    fmt = check_format(parser) if parser is not None else parser_for_engine(engine)
    environment = _json_copy(environment)
    session_id = session_id or f"{tenant}-{uuid.uuid4().hex[:16]}"
    schemas = registry.openai_tools() if speculator is not None else []
    return Session(
        engine,
        registry,
        executor if executor is not None else shared_executor(registry),
        session_id=session_id,
        system=system,
        tenant=tenant,
        max_turns=max_turns,
        parser=fmt,
        turn_params=turn_params or GenerationParams(max_tokens=DEFAULT_MAX_TOKENS),
        priority=priority,
        pin_ttl_s=pin_ttl_s,
        assistant_view=assistant_view,
        speculation=(speculator.track(session_id, tenant, registry.names(),
                                      tool_params(schemas), tool_docs(schemas),
                                      stated_date(system or ""), environment)
                     if speculator is not None else None),
        early_dispatch=early_dispatch,
        kv_retention=kv_retention,
        coscheduling=coscheduling,
        strict_calls=strict_calls,
        environment=environment,
        on_commit=on_commit,
        reasoning=reasoning,
    )


def _json_copy(environment: Any) -> Any:
    """A copy of a JSON environment; InvalidArgumentError for anything JSON cannot hold."""
    if environment is None:
        return None
    try:
        return json.loads(json.dumps(environment, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"environment must be a JSON value: {exc}") from None
