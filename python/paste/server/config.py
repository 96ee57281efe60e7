"""ServerConfig: every knob of one HTTP server, validated once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from paste.engine.pooling import PoolingParams
from paste.errors import InvalidArgumentError
from paste.parsing import get_parser_names
from paste.parsing.reasoning import ReasoningTags, reasoning_tags
from paste.speculation.waste import check_max_waste_ratio

DEFAULT_MAX_REQUEST_BYTES = 8 << 20


@dataclass(frozen=True)
class ServerConfig:
    """Configuration of one server (the engine is configured separately).

    model_id: the name clients pass as "model" and GET /v1/models lists.
    model_aliases: further names clients may pass, listed after model_id (vLLM's
        --served-model-name with several names); an answer names the model as asked.
    tool_call_parser: tool-call format of the model's output (paste.parsing names); None =
        the model's default (paste.session.parsers table: name, then architecture).
    api_key: if set, every /v1 request needs `Authorization: Bearer <api_key>` (else 401).
    max_request_bytes: larger request bodies are refused with 413.
    default_max_tokens: completion limit when a request sets none.
    generation_defaults: sampling defaults for OpenAI requests that leave a field out
        (server/generation_defaults.py: the model's generation_config.json, vLLM's
        --generation-config), keyed by request field; empty: the API's own defaults.
    session_max_tokens: per-turn limit of native sessions when the request sets none.
    max_stored_responses: Responses API answers kept for GET and previous_response_id (an
        in-memory LRU, server/response_store.py); the least recently used is forgotten.
    Native sessions (ablation switches, all on by default; docs/server.md):
    enable_speculation: run predicted calls of sessions with tools early (server/speculation.py).
    early_dispatch: dispatch a call the moment it is decoded (else when the turn ends).
    kv_retention: keep a session's KV parked across tool waits (else each turn is a new
        request). coscheduling: CoSchedulingPolicy priorities for turns returning from tools.
    strict_tool_calls: every call a session's model opens is a whole call of one of its
        tools with schema-valid arguments (open_session strict_calls).
    session_dir: a folder where native sessions are journaled as they commit messages and
        from which they are restored at start (server/session_journal.py); None: in memory.
    session_fsync: each journal write waits until the disk has it (needs session_dir).
    response_dir: a folder where stored Responses API answers and conversations are
        journaled as they change, and from which they are restored at start
        (server/store_journal.py; it may be session_dir); None: in memory.
    response_fsync: each response journal write waits until the disk has it (needs
        response_dir).
    reasoning_parser: how a reasoning model's thinking is told from its answer in Chat
        Completions and Responses (parsing/reasoning.py: "qwen3", "deepseek_r1"); None: the
        output is all answer.
    pooling: how /v1/embeddings pools a prompt's hidden states (engine/pooling.py; the
        `--pooler-config` flag): the last token's, normalized, by default.
    pattern_store: a PatternStore file (`paste patterns mine`) predicting its tenant's calls.
    pattern_dir: a folder of PatternStore files, one per tenant, all loaded at start; each
        tenant's online-learned store is saved there once it learned a run, then at most once
        per pattern_save_interval seconds, and when the server stops.
    pattern_save_interval: least seconds between two saves of a tenant's store (0: after
        every learned run).
    learn_patterns: learn each tenant's patterns online from its sessions' completed runs.
    speculation_budget: the ONE cap on speculative jobs in flight across all sessions.
    speculation_max_predictions: predicted calls considered per session event.
    speculation_waste_price: seconds of user wait one wasted speculative tool-second is worth
        (SpeculationConfig.waste_price; 0 = only the budget bounds wasted work).
    speculation_max_waste_ratio: wasted speculative tool-seconds allowed per tool-second the
        sessions used, across the engine (SpeculationConfig.max_waste_ratio; None = unbounded).
    speculation_transactions: side-effecting calls of tools that supply a transaction may run
        speculatively (SpeculationConfig.transactions).
    allowed_origins, allowed_methods, allowed_headers, allow_credentials: CORS, vLLM's flags
        and defaults: pages of these origins may call the API from a browser with these
        methods and headers ("*": any; allowed_origins empty: no CORS headers at all, so
        browsers refuse cross-origin calls); allow_credentials lets them send cookies and
        authorization.
    log_stats_interval_s: seconds between the engine stats lines logged while the engine
        works (server/stats_log.py, vLLM's periodic throughput log); 0 = none. `paste serve`
        logs every 10 s unless --disable-log-stats.
    log_requests: each generating request logs a line on logger "paste.requests" when it is
        received (its rendered prompt, sampling parameters and prompt token ids) and one when
        it finishes or is aborted (server/request_log.py; vLLM's --enable-log-requests).
    max_log_len: the logged prompt is cut to this many characters and its token ids to this
        many ids (vLLM's --max-log-len); None: logged whole.
    request_id_headers: every answer carries an X-Request-Id header, the request's own when
        it sent one, else a fresh uuid4 hex (server/request_id.py; vLLM's
        --enable-request-id-headers).
    disable_fastapi_docs: /docs, /redoc and /openapi.json answer 404 (vLLM's
        --disable-fastapi-docs); else FastAPI serves them, without the API key.
    allow_runtime_lora_updating: serve POST /v1/load_lora_adapter and /v1/unload_lora_adapter
        (server/lora_api.py; vLLM's VLLM_ALLOW_RUNTIME_LORA_UPDATING).
    """

    model_id: str
    model_aliases: tuple[str, ...] = ()
    tool_call_parser: str | None = None
    api_key: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    default_max_tokens: int = 1024
    generation_defaults: Mapping[str, float | int] = field(default_factory=dict)
    session_max_tokens: int = 512
    max_stored_responses: int = 1024
    host: str = "127.0.0.1"
    port: int = 8000
    enable_speculation: bool = True
    early_dispatch: bool = True
    kv_retention: bool = True
    coscheduling: bool = True
    strict_tool_calls: bool = True
    session_dir: str | None = None
    session_fsync: bool = False
    response_dir: str | None = None
    response_fsync: bool = False
    reasoning_parser: str | None = None
    pooling: PoolingParams = field(default_factory=PoolingParams)
    pattern_store: str | None = None
    pattern_dir: str | None = None
    pattern_save_interval: float = 30.0
    learn_patterns: bool = True
    speculation_budget: int = 16
    speculation_max_predictions: int = 3
    speculation_waste_price: float = 0.1
    speculation_max_waste_ratio: float | None = 0.5
    speculation_transactions: bool = True
    log_stats_interval_s: float = 0.0
    allowed_origins: tuple[str, ...] = ("*",)
    allowed_methods: tuple[str, ...] = ("*",)
    allowed_headers: tuple[str, ...] = ("*",)
    allow_credentials: bool = False
    log_requests: bool = False
    max_log_len: int | None = None
    request_id_headers: bool = False
    disable_fastapi_docs: bool = False
    allow_runtime_lora_updating: bool = False

    @property
    def model_names(self) -> tuple[str, ...]:
        """Every name clients may pass as "model", model_id first."""
        return (self.model_id, *self.model_aliases)

    @property
    def reasoning(self) -> ReasoningTags | None:
        """The tags of reasoning_parser (None: no reasoning split)."""
        return None if self.reasoning_parser is None else reasoning_tags(self.reasoning_parser)

    def __post_init__(self) -> None:
        if not self.model_id:
            raise InvalidArgumentError("model_id must be a non-empty string")
        names = self.model_names
        if not _non_empty_strings(names) or len(set(names)) != len(names):
            raise InvalidArgumentError(
                f"served model names must be distinct non-empty strings, got {list(names)}")
        if self.max_request_bytes < 1:
            raise InvalidArgumentError(
                f"max_request_bytes must be >= 1, got {self.max_request_bytes}"
            )
        if self.default_max_tokens < 1 or self.session_max_tokens < 1:
            raise InvalidArgumentError("default_max_tokens and session_max_tokens must be >= 1")
        if self.max_stored_responses < 1:
            raise InvalidArgumentError(
                f"max_stored_responses must be >= 1, got {self.max_stored_responses}"
            )
        if self.tool_call_parser is not None and self.tool_call_parser not in get_parser_names():
            raise InvalidArgumentError(
                f"unknown tool-call parser {self.tool_call_parser!r}; known: "
                + ", ".join(get_parser_names())
            )
        if not 0 <= self.port <= 65535:
            raise InvalidArgumentError(f"port must be in 0..65535, got {self.port}")
        if self.api_key is not None and not self.api_key:
            raise InvalidArgumentError("api_key must be non-empty when set")
        if self.speculation_budget < 0 or self.speculation_max_predictions < 0:
            raise InvalidArgumentError(
                "speculation_budget and speculation_max_predictions must be >= 0, got "
                f"{self.speculation_budget} and {self.speculation_max_predictions}"
            )
        _check_finite(self, "speculation_waste_price", "a finite number >= 0")
        check_max_waste_ratio(self.speculation_max_waste_ratio, "speculation_max_waste_ratio")
        for name in ("allowed_origins", "allowed_methods", "allowed_headers"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not _non_empty_strings(value):
                raise InvalidArgumentError(
                    f"{name} must be a tuple of non-empty strings, got {value!r}")
        _check_finite(self, "log_stats_interval_s", "a finite number of seconds >= 0")
        if self.max_log_len is not None and (
                isinstance(self.max_log_len, bool) or not isinstance(self.max_log_len, int)
                or self.max_log_len < 0):
            raise InvalidArgumentError(
                f"max_log_len must be an integer >= 0 when set, got {self.max_log_len!r}")
        if self.pattern_store is not None and not self.pattern_store:
            raise InvalidArgumentError("pattern_store must be a non-empty path when set")
        if self.session_dir is not None and not self.session_dir:
            raise InvalidArgumentError("session_dir must be a non-empty path when set")
        if self.session_fsync and self.session_dir is None:
            raise InvalidArgumentError("session_fsync needs a session_dir")
        if self.response_dir is not None and not self.response_dir:
            raise InvalidArgumentError("response_dir must be a non-empty path when set")
        if self.response_fsync and self.response_dir is None:
            raise InvalidArgumentError("response_fsync needs a response_dir")
        if self.reasoning_parser is not None:
            reasoning_tags(self.reasoning_parser)  # InvalidArgumentError naming the known
        if self.pattern_dir is not None and not self.pattern_dir:
            raise InvalidArgumentError("pattern_dir must be a non-empty path when set")
        _check_finite(self, "pattern_save_interval", "a finite number of seconds >= 0")


def _non_empty_strings(values: tuple[object, ...]) -> bool:
    return all(isinstance(v, str) and v for v in values)


def _check_finite(config: ServerConfig, name: str, what: str) -> None:
    """InvalidArgumentError unless the field `name` is in [0, inf) (`what` says so)."""
    value = getattr(config, name)
    if not 0.0 <= value < float("inf"):
        raise InvalidArgumentError(f"{name} must be {what}, got {value!r}")
