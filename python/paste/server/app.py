"""create_app: the FastAPI application of one paste server.

    GET  /health                      liveness: {"status": "ok", "model"}; 503 once the engine
                                      cannot serve
    GET, POST /ping                   /health under SageMaker's name (vLLM's)
    GET  /metrics                     Prometheus text (metrics.py)
    GET  /version                     {"version": paste's}
    POST /reset_prefix_cache          vLLM's: the engine forgets its prefix cache
    GET  /v1/models, /v1/models/{id}  the served model under each of its names (with its
                                      max_model_len), and its LoRA adapters
    POST /v1/load_lora_adapter, /v1/unload_lora_adapter  lora_api.py (with
                                      allow_runtime_lora_updating)
    POST /v1/chat/completions         chat.py
    POST /v1/completions              completions.py
    POST /tokenize, /detokenize       tokenize.py (token ids of a prompt, text of ids)
    POST /v1/embeddings               embeddings.py (prompts pooled from hidden states)
    POST /v1/responses                responses.py (stored unless "store": false)
    GET, DELETE /v1/responses/{id}    a stored response (response_store.py); GET with
                                      stream=true resumes a background stream
    GET /v1/responses/{id}/input_items  its request's input items (input_items.py)
    POST /v1/responses/{id}/cancel    stops a background response (background_responses.py)
    /v1/conversations...              conversation_api.py (OpenAI's Conversations API)
    /v1/sessions...                   sessions.py (native agent sessions)
    POST /invocations                 invocations.py: chat, completions or responses by the body
    GET  /docs, /redoc, /openapi.json FastAPI's API docs (404 with disable_fastapi_docs)

Bodies are read and validated by the routes themselves (not by FastAPI models) so that every
client error has OpenAI's error shape: {"error": {"message", "type", "param", "code"}}.
Middleware, outermost first: CORS (ServerConfig.allowed_origins; none when empty),
RequestIdMiddleware (X-Request-Id, with request_id_headers), RequestCounter (metrics),
GuardMiddleware (API key, size). While the app runs, a StatsLog task logs the engine stats
line (config.log_stats_interval_s > 0; stats_log.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import paste
from paste.errors import InvalidArgumentError
from paste.server import (
    chat,
    completions,
    conversation_api,
    embeddings,
    invocations,
    lora_api,
    responses,
    sessions,
    tokenize,
)
from paste.server.config import ServerConfig
from paste.server.conversation_store import ConversationStore, conversation_journal
from paste.server.errors import ApiError, BadRequestError, NotFoundError, error_body
from paste.server.generation import context_limit
from paste.server.guard import GuardMiddleware
from paste.server.metrics import RequestCounter, ServerMetrics
from paste.server.request_id import RequestIdMiddleware
from paste.server.response_journal import response_journal
from paste.server.response_store import ResponseStore
from paste.server.session_journal import SessionJournal
from paste.server.session_log import session_turn_log
from paste.server.session_store import SessionStore
from paste.server.speculation import server_speculation
from paste.server.state import ServerState, server_state
from paste.server.stats_log import StatsLog
from paste.session.parsers import parser_for_engine
from paste.session.priority import CoSchedulingPolicy
from paste.tools import ToolRegistry


def _response_stores(config: ServerConfig) -> tuple[ResponseStore, ConversationStore]:
    """The Responses API's stored responses and conversations, each journaled in
    config.response_dir (when set) and restored from it (server/store_journal.py)."""
    folder, fsync = config.response_dir, config.response_fsync
    responses = ResponseStore(config.max_stored_responses,
                              response_journal(folder, fsync) if folder else None)
    try:
        conversations = ConversationStore(config.max_stored_responses,
                                          conversation_journal(folder, fsync) if folder else None)
    except BaseException:
        _close((responses.journal,))
        raise
    responses.restore()
    conversations.restore()
    return responses, conversations


def _close(journals: tuple[Any, ...]) -> None:
    """Lets another server own these journals' folders (None: no journal)."""
    for journal in journals:
        if journal is not None:
            journal.close()


def create_app(engine: Any, config: ServerConfig, tools: ToolRegistry | None = None) -> FastAPI:
    """An app serving `engine` (owned by the caller: shut it down after the server stops).

    tools: the registry native sessions choose their tools from (default: none).
    Raises PatternStoreError if config.pattern_store or a store in config.pattern_dir cannot be
    read, SessionJournalError if config.session_dir cannot be created or another server owns
    it. Sessions journaled in config.session_dir are restored (problems are logged,
    server/session_store.py); so are the stored responses and conversations journaled in
    config.response_dir (StoreJournalError as for sessions; server/store_journal.py).
    """
    parser_format = config.tool_call_parser or parser_for_engine(engine)
    speculation = server_speculation(engine, config)
    metrics = ServerMetrics(engine, speculation)
    policy = CoSchedulingPolicy() if config.coscheduling else None
    journal = (SessionJournal(config.session_dir, fsync=config.session_fsync)
               if config.session_dir else None)
    store = SessionStore(
        engine, tools if tools is not None else ToolRegistry(), parser_format, speculation,
        journal, early_dispatch=config.early_dispatch, kv_retention=config.kv_retention,
        coscheduling=policy, strict_calls=config.strict_tool_calls,
        reasoning=config.reasoning, turn_log=session_turn_log(engine, config),
    )  # fmt: skip
    store.restore()
    metrics.sessions_open.set(len(store))
    metrics.track_sessions(store)
    response_store, conversation_store = _response_stores(config)
    journals = (journal, response_store.journal, conversation_store.journal)
    try:
        state = ServerState(engine, config, parser_format, metrics, store, int(time.time()),
                            response_store, conversation_store, speculation, policy)  # fmt: skip
    except BaseException:  # a refused setting: let another server own the folders
        _close(journals)
        raise
    metrics.track_store_journals({"responses": response_store,
                                  "conversations": conversation_store})

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stats_log = None
        if config.log_stats_interval_s > 0:
            stats_log = asyncio.create_task(
                StatsLog(engine, speculation, config.log_stats_interval_s).run())
        try:
            yield
        finally:
            if stats_log is not None:
                stats_log.cancel()
            await state.background.shutdown()
            store.close()
            _close(journals[1:])

    docs = not config.disable_fastapi_docs
    app = FastAPI(title="paste", version=paste.__version__,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None, lifespan=lifespan)  # fmt: skip
    app.state.paste = state
    app.add_api_route("/health", health, methods=["GET"])
    for method in ("GET", "POST"):  # one route per method: distinct OpenAPI operation ids
        app.add_api_route("/ping", health, methods=[method])
    app.add_api_route("/metrics", metrics_text, methods=["GET"])
    app.add_api_route("/version", version, methods=["GET"])
    app.add_api_route("/reset_prefix_cache", reset_prefix_cache, methods=["POST"])
    if config.allow_runtime_lora_updating:
        app.add_api_route("/v1/load_lora_adapter", lora_api.load_lora_adapter, methods=["POST"])
        app.add_api_route("/v1/unload_lora_adapter", lora_api.unload_lora_adapter,
                          methods=["POST"])
    app.add_api_route("/v1/models", list_models, methods=["GET"])
    app.add_api_route("/v1/models/{model_id:path}", get_model, methods=["GET"])
    app.add_api_route("/v1/chat/completions", chat.create_chat_completion, methods=["POST"])
    app.add_api_route("/v1/completions", completions.create_completion, methods=["POST"])
    app.add_api_route("/tokenize", tokenize.tokenize, methods=["POST"])
    app.add_api_route("/v1/embeddings", embeddings.create_embedding, methods=["POST"])
    app.add_api_route("/detokenize", tokenize.detokenize, methods=["POST"])
    app.add_api_route("/v1/responses", responses.create_response, methods=["POST"])
    app.add_api_route("/v1/responses/{response_id}", responses.get_response, methods=["GET"])
    app.add_api_route("/v1/responses/{response_id}", responses.delete_response,
                      methods=["DELETE"])  # fmt: skip
    for path, route, methods in (
        ("/v1/conversations", conversation_api.create_conversation, ["POST"]),
        ("/v1/conversations/{conversation_id}", conversation_api.get_conversation, ["GET"]),
        ("/v1/conversations/{conversation_id}", conversation_api.update_conversation,
         ["POST"]),
        ("/v1/conversations/{conversation_id}", conversation_api.delete_conversation,
         ["DELETE"]),
        ("/v1/conversations/{conversation_id}/items", conversation_api.add_items, ["POST"]),
        ("/v1/conversations/{conversation_id}/items", conversation_api.list_items, ["GET"]),
        ("/v1/conversations/{conversation_id}/items/{item_id}", conversation_api.get_item,
         ["GET"]),
        ("/v1/conversations/{conversation_id}/items/{item_id}", conversation_api.delete_item,
         ["DELETE"]),
    ):
        app.add_api_route(path, route, methods=methods)
    app.add_api_route("/v1/responses/{response_id}/input_items", responses.list_input_items,
                      methods=["GET"])
    app.add_api_route("/v1/responses/{response_id}/cancel", responses.cancel_response,
                      methods=["POST"])  # fmt: skip
    app.add_api_route("/v1/sessions", sessions.create_session, methods=["POST"])
    app.add_api_route("/v1/sessions/{session_id}", sessions.get_session, methods=["GET"])
    app.add_api_route("/v1/sessions/{session_id}", sessions.delete_session, methods=["DELETE"])
    app.add_api_route("/v1/sessions/{session_id}/messages", sessions.post_message,
                      methods=["POST"])  # fmt: skip
    app.add_api_route("/invocations", invocations.invocations, methods=["POST"])
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InvalidArgumentError, _invalid_argument)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(GuardMiddleware, api_key=config.api_key,
                       max_request_bytes=config.max_request_bytes)  # fmt: skip
    app.add_middleware(RequestCounter, metrics=metrics)
    if config.request_id_headers:
        app.add_middleware(RequestIdMiddleware)
    if config.allowed_origins:  # outermost: a preflight is answered before the API key check
        app.add_middleware(CORSMiddleware, allow_origins=list(config.allowed_origins),
                           allow_methods=list(config.allowed_methods),
                           allow_headers=list(config.allowed_headers),
                           allow_credentials=config.allow_credentials)  # fmt: skip
    return app


async def health(request: Request) -> Response:
    """200 while the engine serves; 503 with the reason while it cannot: status "restarting"
    while a new engine process replaces one that exited, "error" once it never will."""
    state = server_state(request)
    failure = getattr(state.engine, "failure", None)
    if failure is not None:
        status = "restarting" if getattr(state.engine, "restarting", False) else "error"
        return JSONResponse({"status": status, "model": state.config.model_id,
                             "error": failure}, status_code=503)
    return JSONResponse({"status": "ok", "model": state.config.model_id})


async def metrics_text(request: Request) -> Response:
    return Response(server_state(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _model_object(state: ServerState, name: str) -> dict[str, Any]:
    """OpenAI's model object, plus vLLM's max_model_len (the longest prompt + output), and
    for a LoRA adapter vLLM's root (its folder) and parent (the base model's id)."""
    out = {"id": name, "object": "model", "created": state.created,
           "owned_by": "paste", "max_model_len": context_limit(state.engine)}  # fmt: skip
    path = dict(state.lora_adapters).get(name)
    if path is not None and name not in state.config.model_names:
        out.update(root=path, parent=state.config.model_id)
    return out


async def reset_prefix_cache(request: Request) -> Response:
    """vLLM's POST /reset_prefix_cache: the engine forgets its prefix cache (Engine's
    reset_prefix_cache) before any request that comes after; an empty 200."""
    engine = server_state(request).engine
    reset = getattr(engine, "reset_prefix_cache", None)
    if reset is None:  # a simulated engine (bench) keeps no KV
        raise BadRequestError("this engine has no prefix cache to reset")
    reset()
    return Response(status_code=200)


async def version(_request: Request) -> Response:
    return JSONResponse({"version": paste.__version__})


async def list_models(request: Request) -> Response:
    state = server_state(request)
    return JSONResponse({"object": "list",
                         "data": [_model_object(state, n) for n in state.model_names]})


async def get_model(request: Request) -> Response:
    state = server_state(request)
    name = request.path_params["model_id"]
    state.check_model(name)
    return JSONResponse(_model_object(state, name))


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


async def _invalid_argument(_request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body(str(exc), "invalid_request_error"), status_code=400)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return JSONResponse(NotFoundError("no such route", code="not_found").body(), 404)
    return JSONResponse(error_body(str(exc.detail), "invalid_request_error"), exc.status_code)


async def _internal_error(_request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body(f"internal error: {type(exc).__name__}: {exc}",
                                   "server_error"), status_code=500)  # fmt: skip
