"""vLLM's runtime LoRA routes, served with `paste serve --allow-runtime-lora-updating` (vLLM's
VLLM_ALLOW_RUNTIME_LORA_UPDATING) and behind `--api-key` like every /v1 route:

    POST /v1/load_lora_adapter    {"lora_name", "lora_path"}
        -> 200 text "Success: LoRA adapter 'NAME' added successfully."; from the engine's
           next step on a request whose "model" is NAME runs it; 400 for a bad adapter
           (naming its folder), a name already loaded or a served model's name
    POST /v1/unload_lora_adapter  {"lora_name"}
        -> 200 text "Success: LoRA adapter 'NAME' removed successfully."; 404 for a name not
           loaded, 409 while requests still run it (parked sessions do not count: their
           next turn gets a 404 for the model)

A change reaches /v1/models at once, and an engine process started again after a crash loads
the adapters as they were (engine/lora_ops.py). An adapter loaded again under its name never
reuses KV cached under its old weights (engine/lora_runtime.py, namespaces).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from paste.engine.lora import LoraInUseError, LoraNameError
from paste.server.body import read_json_object
from paste.server.errors import BadRequestError, ConflictError, NotFoundError
from paste.server.fields import req_str
from paste.server.state import server_state


def _changer(request: Request, op: str) -> Callable[..., None]:
    """The engine's load_lora_adapter / unload_lora_adapter."""
    method = getattr(server_state(request).engine, f"{op}_lora_adapter", None)
    if method is None:  # a simulated engine (bench) runs no model
        raise BadRequestError("this engine cannot load LoRA adapters")
    return method  # type: ignore[no-any-return]


async def load_lora_adapter(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    name, path = req_str(body, "lora_name"), req_str(body, "lora_path")
    if name in state.config.model_names:
        raise BadRequestError(f"'{name}' is a served model name, not free for an adapter",
                              param="lora_name")
    load = _changer(request, "load")
    try:
        await asyncio.to_thread(load, name, path)
    except LoraNameError as exc:
        raise BadRequestError(str(exc), param="lora_name") from None
    return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")


async def unload_lora_adapter(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    name = req_str(body, "lora_name")
    unload = _changer(request, "unload")
    try:
        await asyncio.to_thread(unload, name)
    except LoraNameError as exc:
        raise NotFoundError(str(exc), param="lora_name") from None
    except LoraInUseError as exc:
        raise ConflictError(str(exc), param="lora_name") from None
    return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")
