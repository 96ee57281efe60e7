"""paste.server: the OpenAI-compatible HTTP API, native agent sessions and metrics.

```python
from paste.server import ServerConfig, create_app, BackgroundServer
app = create_app(engine, ServerConfig(model_id="smollm2-135m-instruct"), tools=registry)
```
or from a shell: `paste serve --model smollm2-135m-instruct --tools mypkg.tools:registry`.

Module map, the main files (one concept per file; docs/structure.md lists every one):
    app.py               create_app: routes, error handlers, middleware
    config.py            ServerConfig
    state.py             ServerState shared by the routes (engine, config, metrics, sessions)
    errors.py            ApiError family -> OpenAI error bodies
    guard.py             API key and request-size middleware
    request_id.py        X-Request-Id header middleware (request_id_headers)
    body.py              JSON body with a size limit
    fields.py            typed reads of request fields
    tools_schema.py      function tools and tool_choice, validated
    turn.py              TurnRequest and chat-message normalisation
    chat_request.py      /v1/chat/completions body -> TurnRequest
    responses_request.py /v1/responses body -> TurnRequest
    prompt.py            TurnRequest -> prompt token ids (chat template, call text)
    generation.py        run_turn: submit, stream, parse calls -> TurnEvents
    pump.py              ThreadPump: blocking iterator -> asyncio
    streaming.py         SSE framing, first-event priming, disconnect watching
    chat.py              Chat Completions answers and chunks
    responses.py         Responses answers and events
    response_store.py    stored responses (previous_response_id, GET, input items)
    store_journal.py     StoreJournal: the two stores above written down as they change
    response_journal.py  the stored responses' records (--response-dir)
    conversation_store.py  the Conversations API's conversations (conversation_api.py routes)
    lru_store.py         LruStore: the bounded LRU both stores above keep their entries in
    invocations.py       POST /invocations (SageMaker): dispatch by body to the routes above
    lora_api.py          POST /v1/load_lora_adapter, /v1/unload_lora_adapter (runtime LoRA)
    request_log.py       the request log: Received / Finished / Aborted lines (log_requests)
    session_store.py     native sessions and their tool executors
    session_journal.py   native sessions written down as they go, restored at start
    folder_lock.py       one server per journal folder (flock), JSON-line records
    sessions.py          /v1/sessions routes
    speculation.py       ServerSpeculation: one budget and metrics, a manager per tool set
    predictors.py        TenantPredictors: pattern store file + online learning per tenant
    metrics.py           Prometheus metrics (per-app registry)
    speculation_metrics.py  speculation counters on /metrics
    stats_log.py         StatsLog: the engine stats line logged while the engine works
    background.py        BackgroundServer: uvicorn on a thread
    http_options.py      HttpOptions: uvicorn's options (HTTPS, log level)
    serve.py             serve(): engine + app + uvicorn, for `paste serve`
Guide: docs/server.md.
"""

from paste.server.app import create_app
from paste.server.background import BackgroundServer
from paste.server.config import ServerConfig

__all__ = ["BackgroundServer", "ServerConfig", "create_app"]
