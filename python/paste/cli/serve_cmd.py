"""`paste serve`: the OpenAI-compatible HTTP server (see docs/server.md).

Exit codes: 0 after a clean stop, 1 a fixable error (bad --tools, unknown parser, model
missing; the message says which), 2 an unknown model name.
"""

from __future__ import annotations

import argparse

from paste.cli.arg_types import pooler_config_arg, string_list_arg, waste_ratio_arg
from paste.cli.engine_args import add_engine_arguments, engine_options
from paste.engine.pooling import PoolingParams
from paste.errors import InvalidArgumentError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `serve` command."""
    parser = subparsers.add_parser("serve", help="serve a model over an OpenAI-compatible API")
    parser.add_argument("model_tag", nargs="?", default=None, metavar="MODEL",
                        help="registry name or model folder, as in `vllm serve MODEL` (the "
                             "same as --model)")  # fmt: skip
    parser.add_argument("--model", default=None, help="registry name or model folder "
                        "(default: the default model)")  # fmt: skip
    parser.add_argument("--config", default=None, metavar="YAML",
                        help="a YAML file of flags, e.g. 'port: 8001' and "
                             "'served-model-name: [a, b]'; flags on the command line win "
                             "(vLLM's flag; cli/config_file.py)")  # fmt: skip
    parser.add_argument("--tools", default=None, metavar="MODULE:REGISTRY",
                        help="ToolRegistry for native sessions, e.g. mypkg.tools:registry")  # fmt: skip
    parser.add_argument("--tool-call-parser", default=None, metavar="NAME",
                        help="hermes | json | llama3_json | mistral | mistral_args | pythonic "
                             "(default: by model)")  # fmt: skip
    parser.add_argument("--chat-template", default=None, metavar="TEMPLATE",
                        help="a Jinja chat template, or a file holding one, in place of the "
                             "model's own (vLLM's flag)")  # fmt: skip
    parser.add_argument("--generation-config", default="auto", metavar="auto|vllm|DIR",
                        help="sampling defaults of requests that set none: the model's "
                             "generation_config.json (auto, the default), none (vllm), or "
                             "DIR/generation_config.json (vLLM's flag)")  # fmt: skip
    parser.add_argument("--override-generation-config", default=None, metavar="JSON",
                        help="a JSON object of sampling defaults merged over "
                             "--generation-config's, e.g. '{\"temperature\": 0.5}'")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the engine's sampling for requests that give no seed "
                             "(vLLM's flag; default 0)")  # fmt: skip
    parser.add_argument("--enable-auto-tool-choice", action="store_true",
                        help="accepted for vLLM command lines: paste always parses tool calls "
                             "when a request offers tools")  # fmt: skip
    parser.add_argument("--enable-log-requests", action="store_true",
                        help="log a line when each generating request arrives (its id, "
                             "prompt, sampling parameters, prompt token ids) and one when it "
                             "ends (vLLM's flag; server/request_log.py)")  # fmt: skip
    parser.add_argument("--max-log-len", type=int, default=None, metavar="N",
                        help="with --enable-log-requests: the characters of a logged prompt "
                             "and its token ids kept (default: all)")  # fmt: skip
    parser.add_argument("--disable-log-requests", action="store_true",
                        help="vLLM's older flag: no request log (the default; wins over "
                             "--enable-log-requests)")  # fmt: skip
    parser.add_argument("--enable-request-id-headers", action="store_true",
                        help="an X-Request-Id header on every answer: the request's own, or "
                             "a fresh id (vLLM's flag)")  # fmt: skip
    parser.add_argument("--disable-fastapi-docs", action="store_true",
                        help="no /docs, /redoc or /openapi.json (vLLM's flag)")  # fmt: skip
    parser.add_argument("--allow-runtime-lora-updating", action="store_true",
                        help="serve POST /v1/load_lora_adapter and /v1/unload_lora_adapter "
                             "(vLLM's VLLM_ALLOW_RUNTIME_LORA_UPDATING)")  # fmt: skip
    parser.add_argument("--disable-log-stats", action="store_true",
                        help="log no engine stats lines (vLLM's flag; by default a line of "
                             "throughput, queues, KV cache and speculation every "
                             "--log-stats-interval seconds while the engine works)")  # fmt: skip
    parser.add_argument("--log-stats-interval", type=float, default=10.0, metavar="S",
                        help="seconds between engine stats lines (default 10)")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    for flag, text in (("--allowed-origins", "origins"), ("--allowed-methods", "HTTP methods"),
                       ("--allowed-headers", "request headers")):
        parser.add_argument(flag, type=string_list_arg, default=("*",), metavar="JSON",
                            help=f"CORS: the {text} a browser page may call the API with, a "
                                 "JSON array (vLLM's flag; default '[\"*\"]': any)")  # fmt: skip
    parser.add_argument("--allow-credentials", action="store_true",
                        help="CORS: browsers may send cookies and authorization with "
                             "cross-origin requests (vLLM's flag)")  # fmt: skip
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", default=None,
                        help="require 'Authorization: Bearer KEY' on /v1 routes")  # fmt: skip
    parser.add_argument("--api-key-file", default=None, metavar="PATH",
                        help="read the API key from a file (keeps it out of the process list)")  # fmt: skip
    parser.add_argument("--max-request-bytes", type=int, default=None,
                        help="refuse larger request bodies with 413 (default 8 MiB)")  # fmt: skip
    parser.add_argument("--served-model-name", default=None, nargs="+", metavar="NAME",
                        help="model id clients use (default: the model name); several names "
                             "as in vLLM: the first is the server's, all are accepted and "
                             "listed")  # fmt: skip
    parser.add_argument("--uvicorn-log-level", default="info", metavar="LEVEL",
                        help="the HTTP server's log level: critical | error | warning | info | "
                             "debug | trace (vLLM's flag; default info)")  # fmt: skip
    parser.add_argument("--disable-uvicorn-access-log", action="store_true",
                        help="log no line per HTTP request (vLLM's flag)")  # fmt: skip
    parser.add_argument("--root-path", default="", metavar="PATH",
                        help="the path prefix a reverse proxy serves the API under and strips "
                             "before forwarding, e.g. /paste (vLLM's flag)")  # fmt: skip
    parser.add_argument("--ssl-keyfile", default=None, metavar="PATH",
                        help="serve HTTPS with this private key (PEM; with --ssl-certfile)")  # fmt: skip
    parser.add_argument("--ssl-certfile", default=None, metavar="PATH",
                        help="serve HTTPS with this certificate (PEM; with --ssl-keyfile)")  # fmt: skip
    parser.add_argument("--ssl-ca-certs", default=None, metavar="PATH",
                        help="CA certificates client certificates are checked against")  # fmt: skip
    parser.add_argument("--ssl-cert-reqs", type=int, default=0, metavar="N",
                        help="client certificates: 0 not asked (default), 1 optional, 2 "
                             "required (vLLM's flag; Python's ssl.CERT_* values)")  # fmt: skip
    add_engine_arguments(parser)
    parser.add_argument("--engine-process", default=True, action=argparse.BooleanOptionalAction,
                        help="run the model and its step loop in a process of their own, "
                             "apart from the HTTP handlers, tools and learning (default: on; "
                             "--no-engine-process: on a thread of the server's process)")
    parser.add_argument("--engine-restarts", type=int, default=3, metavar="N",
                        help="with --engine-process: replace an engine process that exits "
                             "(a crash, the OOM killer) up to N times in 10 minutes; requests "
                             "it was running get a retryable 503, native sessions run their "
                             "lost turn again (default 3; 0: the server stops serving)")
    parser.add_argument("--engine-step-timeout", type=float, default=300.0, metavar="S",
                        help="with --engine-process: an engine process that has requests but "
                             "finishes no step in S seconds is hung: it is killed and replaced "
                             "as if it had exited (default 300, above any step of a large "
                             "model on a CPU; 0: no watchdog)")
    _add_session_switches(parser)
    parser.set_defaults(func=_serve)


# (flag, ServerConfig field, help); each flag also has a --no- form (ablations).
SWITCHES = (
    ("speculation", "enable_speculation", "run predicted tool calls of native sessions early"),
    ("early-dispatch", "early_dispatch", "dispatch a call the moment it is decoded"),
    ("kv-retention", "kv_retention", "keep a session's KV parked across tool waits"),
    ("coscheduling", "coscheduling", "boost turns that return from tools (KV band)"),
    ("strict-tool-calls", "strict_tool_calls",
     "constrain each call a native session's model opens to a whole call of one of its tools "
     "with schema-valid arguments"),
    ("learn-patterns", "learn_patterns", "learn tool patterns online from completed runs"),
    ("transactions", "speculation_transactions",
     "run side-effecting calls of tools that supply a transaction speculatively (staged "
     "privately, committed on a hit)"),
)


def _add_session_switches(parser: argparse.ArgumentParser) -> None:
    for flag, field, text in SWITCHES:
        parser.add_argument(f"--{flag}", dest=field, default=True, help=f"{text} (default: on)",
                            action=argparse.BooleanOptionalAction)  # fmt: skip
    parser.add_argument("--max-stored-responses", type=int, default=1024, metavar="N",
                        help="Responses API objects kept for GET and previous_response_id "
                             "(in memory, least recently used dropped; default 1024)")
    parser.add_argument("--pattern-store", default=None, metavar="FILE",
                        help="a PatternStore from `paste patterns mine` (its tenant's predictor)")  # fmt: skip
    parser.add_argument("--session-dir", default=None, metavar="DIR",
                        help="write native sessions down as they commit messages (one JSONL "
                             "file each) and restore them when the server starts again")  # fmt: skip
    parser.add_argument("--reasoning-parser", default=None, metavar="NAME",
                        help="a reasoning model's thinking apart from its answer in chat "
                             "completions (reasoning_content) and responses (a reasoning "
                             "item): qwen3 or deepseek_r1 (<think>...</think>)")  # fmt: skip
    parser.add_argument("--pooler-config", type=pooler_config_arg, default=PoolingParams(),
                        metavar="JSON",
                        help="how /v1/embeddings pools a prompt's hidden states (vLLM's flag): "
                             "'{\"pooling_type\": \"LAST\" or \"MEAN\", \"normalize\": "
                             "true or false}' (default LAST, normalized)")  # fmt: skip
    parser.add_argument("--session-fsync", action="store_true",
                        help="with --session-dir: each journal write waits until the disk has "
                             "it (a power loss loses no committed message; each commit costs "
                             "a disk flush)")  # fmt: skip
    parser.add_argument("--response-dir", default=None, metavar="DIR",
                        help="write stored Responses API answers and conversations down as "
                             "they change and restore them when the server starts again (GET, "
                             "previous_response_id and conversations across restarts; may be "
                             "the --session-dir)")  # fmt: skip
    parser.add_argument("--response-fsync", action="store_true",
                        help="with --response-dir: each write waits until the disk has it")
    parser.add_argument("--pattern-dir", default=None, metavar="DIR",
                        help="per-tenant PatternStore files: all loaded at start, each tenant's "
                             "online-learned store saved there (at once after its first "
                             "learned run, then at most once per --pattern-save-interval, "
                             "and at shutdown)")  # fmt: skip
    parser.add_argument("--pattern-save-interval", type=float, default=30.0, metavar="S",
                        help="least seconds between two saves of a tenant's store in "
                             "--pattern-dir (0: after every learned run; default 30)")  # fmt: skip
    parser.add_argument("--speculation-budget", type=int, default=16, metavar="N",
                        help="speculative jobs in flight across all sessions (default 16)")  # fmt: skip
    parser.add_argument("--waste-price", type=float, default=0.1, metavar="X",
                        help="seconds of user wait one wasted speculative tool-second is worth; "
                             "admission needs p*hidden - X*(1-p)*latency > 0 (default 0.1)")  # fmt: skip
    parser.add_argument("--max-waste-ratio", type=waste_ratio_arg, default=0.5, metavar="X",
                        help="wasted speculative tool-seconds allowed per tool-second used, "
                             "across the server ('none': unbounded; default 0.5)")  # fmt: skip


def server_options(args: argparse.Namespace) -> dict[str, object]:
    """The ServerConfig fields the session switches set."""
    out: dict[str, object] = {field: getattr(args, field) for _flag, field, _text in SWITCHES}
    out["pattern_store"], out["speculation_budget"] = args.pattern_store, args.speculation_budget
    out["pattern_dir"] = args.pattern_dir
    out["session_dir"], out["session_fsync"] = args.session_dir, args.session_fsync
    out["response_dir"], out["response_fsync"] = args.response_dir, args.response_fsync
    out["reasoning_parser"] = args.reasoning_parser
    out["pooling"] = args.pooler_config
    out["pattern_save_interval"] = args.pattern_save_interval
    out["max_stored_responses"] = args.max_stored_responses
    out["speculation_waste_price"] = args.waste_price
    out["speculation_max_waste_ratio"] = args.max_waste_ratio
    out["log_stats_interval_s"] = 0.0 if args.disable_log_stats else args.log_stats_interval
    out["allowed_origins"], out["allowed_methods"] = args.allowed_origins, args.allowed_methods
    out["allowed_headers"], out["allow_credentials"] = args.allowed_headers, args.allow_credentials
    out["log_requests"] = args.enable_log_requests and not args.disable_log_requests
    out["max_log_len"] = args.max_log_len
    out["request_id_headers"] = args.enable_request_id_headers
    out["disable_fastapi_docs"] = args.disable_fastapi_docs
    out["allow_runtime_lora_updating"] = args.allow_runtime_lora_updating
    return out


def serve_engine_options(args: argparse.Namespace) -> dict[str, object]:
    """The EngineConfig overrides of `paste serve`: the shared engine flags plus --seed (the
    engine's seed here; `paste generate --seed` seeds its request instead)."""
    options = engine_options(args)
    if args.seed is not None:
        options["seed"] = args.seed
    return options


def _serve(args: argparse.Namespace) -> int:
    from paste import envs
    from paste.server.http_options import HttpOptions
    from paste.server.serve import serve

    model = serve_model(args)
    options = serve_engine_options(args)
    http = HttpOptions(log_level=args.uvicorn_log_level, ssl_keyfile=args.ssl_keyfile,
                       ssl_certfile=args.ssl_certfile, ssl_ca_certs=args.ssl_ca_certs,
                       ssl_cert_reqs=args.ssl_cert_reqs,
                       access_log=not args.disable_uvicorn_access_log, root_path=args.root_path)
    try:
        api_key = args.api_key
        if args.api_key_file:
            api_key = _read_key(args.api_key_file)
        serve(
            model or envs.default_model(),
            tools=args.tools,
            tool_call_parser=args.tool_call_parser,
            host=args.host,
            port=args.port,
            api_key=api_key,
            max_request_bytes=args.max_request_bytes,
            served_model_name=args.served_model_name,
            engine_options=options,
            server_options=server_options(args),
            engine_process=args.engine_process,
            engine_restarts=args.engine_restarts,
            engine_step_timeout_s=args.engine_step_timeout,
            chat_template=args.chat_template,
            generation_config=args.generation_config,
            override_generation_config=args.override_generation_config,
            http=http,
        )
    except KeyboardInterrupt:
        pass
    return 0


def serve_model(args: argparse.Namespace) -> str | None:
    """The model to serve: the positional MODEL, else --model (None: the default model). Both
    given on the command line must agree; a --config file's model gives way to the positional."""
    tag, flag = args.model_tag, args.model
    if tag is not None and flag is not None and tag != flag:
        if "model" not in getattr(args, "config_keys", ()):
            raise InvalidArgumentError(
                f"two models given: {tag!r} (positional) and --model {flag!r}; give one")
    return tag if tag is not None else flag


def _read_key(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            key = f.read().strip()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read --api-key-file {path!r}: {exc}") from None
    if not key:
        raise InvalidArgumentError(f"--api-key-file {path!r} is empty")
    return key
