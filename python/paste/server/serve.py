"""serve(): build an Engine, load the tool registry, run the app with uvicorn until stopped
(the objects loaded by then are frozen out of the garbage collector's reach: freeze_heap;
the GIL switch interval is shortened to SWITCH_INTERVAL_S).

`load_registry("pkg.module:name")` imports the module and returns its ToolRegistry attribute.
"""

from __future__ import annotations

import gc
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paste.errors import InvalidArgumentError
from paste.server.http_options import HttpOptions
from paste.tools import ToolRegistry


def load_registry(spec: str) -> ToolRegistry:
    """The ToolRegistry named by "module:attribute"; InvalidArgumentError otherwise."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidArgumentError(
            f"--tools must look like 'package.module:registry', got {spec!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidArgumentError(f"cannot import {module_name!r}: {exc}") from None
    value = getattr(module, attr, None)
    if not isinstance(value, ToolRegistry):
        raise InvalidArgumentError(f"{spec!r} is not a paste.tools.ToolRegistry")
    return value


def model_id_for(model: str) -> str:
    """The id clients use: a registry name as is, a model folder by its folder name."""
    path = Path(model)
    return path.name if path.is_dir() else model


def served_names(served_model_name: str | Sequence[str] | None,
                 model: str) -> tuple[str, tuple[str, ...]]:
    """The server's model id and its aliases from --served-model-name (one name or several,
    as in vLLM: the first is the id); none given: model_id_for(model)."""
    names = ([served_model_name] if isinstance(served_model_name, str)
             else list(served_model_name or ()))
    if not names:
        return model_id_for(model), ()
    return names[0], tuple(names[1:])


# The GIL switch interval `serve` sets (Python's default is 5 ms). A thread waiting for the
# GIL while another thread of the process runs Python gets it only once that thread is made
# to drop it, after this long: the thread reading the engine process's outputs, and with
# --no-engine-process the engine thread itself, which gives the GIL up around every torch op
# (bench/bench_gil.py).
SWITCH_INTERVAL_S = 0.0001


def log_stats_to_stderr() -> None:
    """Engine stats lines (server/stats_log.py) on stderr: log_to_stderr("paste.stats")."""
    log_to_stderr("paste.stats")


def log_to_stderr(name: str) -> None:
    """The INFO lines of paste's logger `name` ("paste.stats": engine stats lines,
    server/stats_log.py; "paste.requests": the request log, server/request_log.py) on
    stderr, formatted as uvicorn's own lines; a handler the embedding process gave that
    logger is left as it is."""
    logger = logging.getLogger(name)
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def startup_summary(config: Any, engine: Any, scheme: str = "http") -> str:
    """What `paste serve` runs, one line per fact an operator checks first (stderr at start):
    the model and its dtype, the context and the KV cache, and the sampling defaults the
    model's generation config gives requests (server/generation_defaults.py)."""
    blocks, size = engine.stats().num_blocks, engine.config.block_size
    lines = [f"paste serve: {config.model_id} in {engine.info.dtype}, max_model_len "
             f"{engine.info.max_model_len}, KV cache {blocks} blocks of {size} tokens "
             f"({blocks * size} tokens), on {scheme}://{config.host}:{config.port}"]
    if config.generation_defaults:
        values = ", ".join(f"{k}={v}" for k, v in config.generation_defaults.items())
        lines.append(f"paste serve: requests that leave them out sample with {values} (the "
                     f"generation config; --generation-config vllm for the API's defaults)")
    return "\n".join(lines)


def prepare_process() -> None:
    """Once the engine, its model and the pattern stores are loaded: freeze_heap, and the
    GIL switch interval set to SWITCH_INTERVAL_S."""
    freeze_heap()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def freeze_heap() -> None:
    """Moves every object alive now (the model, the loaded pattern stores, imported modules)
    out of the garbage collector's reach: a full collection then skips them instead of
    walking them all while holding the GIL (a loaded coding-agent store alone makes that a
    pause of tens of ms for every thread: bench/bench_storefile.py). They are still freed
    when no longer referenced; only cycles among them would stay."""
    gc.collect()
    gc.freeze()


def serve(
    model: str,
    *,
    tools: str | None = None,
    tool_call_parser: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    max_request_bytes: int | None = None,
    served_model_name: str | Sequence[str] | None = None,
    engine_options: dict[str, Any] | None = None,
    server_options: dict[str, Any] | None = None,
    engine_process: bool = True,
    engine_restarts: int = 3,
    engine_step_timeout_s: float = 300.0,
    chat_template: str | None = None,
    generation_config: str = "auto",
    override_generation_config: str | None = None,
    http: HttpOptions | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM); the engine is shut down on the way out.

    server_options: further ServerConfig fields (speculation and session switches).
    engine_process: the model and its step loop run in a process of their own
    (engine/process_engine.py), so HTTP handlers, Python tools and learning never hold the
    GIL the engine needs; False runs them on a thread of this process.
    engine_restarts: how many times (in 10 minutes) an engine process that exits is replaced
    by a new one (ProcessEngine.max_restarts); engine_step_timeout_s: the watchdog's limit for
    a step (ProcessEngine.step_timeout_s; 0: none). chat_template: a Jinja chat template, or
    a file holding one, in place of the model's own (server/chat_template.py).
    generation_config / override_generation_config: vLLM's flags, the sampling defaults of
    requests that set none (server/generation_defaults.py). served_model_name: the id clients
    use, or several (vLLM's flag: the first is the server's model id, the others aliases).
    http: uvicorn's options (HTTPS, log level; server/http_options.py). With
    server_options {"log_requests": True} the request log goes to stderr too."""
    if engine_restarts < 0:
        raise InvalidArgumentError(f"--engine-restarts must be >= 0, got {engine_restarts}")
    if engine_step_timeout_s != 0 and not engine_step_timeout_s > 2:
        raise InvalidArgumentError(
            f"--engine-step-timeout must be 0 or > 2 s, got {engine_step_timeout_s:g}")
    import uvicorn

    from paste.engine.engine import Engine
    from paste.engine.process_engine import ProcessEngine
    from paste.models.store import resolve_model
    from paste.server.app import create_app
    from paste.server.chat_template import load_chat_template, use_chat_template
    from paste.server.config import DEFAULT_MAX_REQUEST_BYTES, ServerConfig
    from paste.server.generation_defaults import load_generation_defaults
    from paste.server.request_log import LOGGER_NAME as REQUEST_LOGGER

    model_id, aliases = served_names(served_model_name, model)
    http = http or HttpOptions()
    try:
        folder = resolve_model(model) if generation_config == "auto" else None
    except InvalidArgumentError:
        folder = None  # the engine reports the model, after the engine flags
    config = ServerConfig(
        model_id=model_id,
        model_aliases=aliases,
        tool_call_parser=tool_call_parser,
        api_key=api_key,
        max_request_bytes=max_request_bytes or DEFAULT_MAX_REQUEST_BYTES,
        host=host,
        port=port,
        generation_defaults=load_generation_defaults(generation_config, folder,
                                                     override_generation_config),
        **(server_options or {}),
    )
    template = load_chat_template(chat_template) if chat_template is not None else None
    registry = load_registry(tools) if tools else None
    engine = (ProcessEngine(model, max_restarts=engine_restarts,
                            step_timeout_s=engine_step_timeout_s or None,
                            **(engine_options or {}))
              if engine_process else Engine(model, **(engine_options or {})))
    try:
        if template is not None:
            use_chat_template(engine, template)
        app = create_app(engine, config, tools=registry)
        print(startup_summary(config, engine, http.scheme), file=sys.stderr, flush=True)
        log_stats_to_stderr()
        if config.log_requests:
            log_to_stderr(REQUEST_LOGGER)
        prepare_process()
        uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=5,
                    **http.uvicorn_kwargs())
    finally:
        engine.shutdown()
        if registry is not None:
            registry.close()
