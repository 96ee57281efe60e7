"""POST /v1/embeddings (OpenAI's Embeddings API, as vLLM serves it): each input pooled from the
served model's hidden states (engine/pooling.py) by the server's `--pooler-config` (LAST
token, L2-normalised by default: the pooling of decoder embedding models such as
Qwen3-Embedding).

`input`: a string, an array of strings, an array of token ids or an array of arrays of token
ids (none empty); text is tokenized with the tokenizer's special tokens (`add_special_tokens`,
default true, vLLM's field: an embedding model's tokenizer may append the token it pools at,
as Qwen3-Embedding's appends <|endoftext|>); `model`: a served name or a LoRA adapter's; `encoding_format`: "float"
(default) or "base64" (the float32 little-endian bytes, as OpenAI sends them); `dimensions`:
only the model's own size (it does not shorten embeddings). Answers {"object": "list",
"data": [{"object": "embedding", "index", "embedding"}], "model", "usage": {"prompt_tokens",
"total_tokens"}} in input order. All inputs go to the engine at once and batch with every
other request; an input longer than the context is a 400 naming `input`.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from paste.engine.engine import EngineStoppedError
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from paste.server.body import read_json_object
from paste.server.completions_request import prompts
from paste.server.errors import BadRequestError
from paste.server.fields import opt_bool, opt_int, opt_str
from paste.server.generation import unavailable
from paste.server.state import server_state
from paste.server.tokenize import vocabulary_size

ENCODINGS = ("float", "base64")


def inputs(value: Any, encode: Any, vocab: int) -> list[list[int]]:
    """The token ids of each input: the forms of a completion's `prompt`
    (completions_request.prompts), none empty and every id below `vocab`; 400 naming `input`
    otherwise."""
    given = prompts(value, encode, param="input")
    if any(text == "" or not ids for ids, text in given):  # before the tokenizer's own tokens
        raise BadRequestError("'input' must be non-empty strings or token id arrays",
                              param="input")
    out = [ids for ids, _text in given]
    if any(not 0 <= t < vocab for ids in out for t in ids):
        raise BadRequestError(f"'input' token ids must be in [0, {vocab})", param="input")
    return out


def encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


async def create_embedding(request: Request) -> Response:
    state = server_state(request)
    body = await read_json_object(request, state.config.max_request_bytes)
    model = opt_str(body, "model")
    if model is None:
        raise BadRequestError("'model' is required", param="model")
    lora = state.check_model(model)
    encoding = opt_str(body, "encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise BadRequestError(f"'encoding_format' must be one of {', '.join(ENCODINGS)}",
                              param="encoding_format")
    dimensions = opt_int(body, "dimensions")
    special = opt_bool(body, "add_special_tokens", True)
    engine = state.engine

    def encode(text: str) -> list[int]:
        return list(engine.tokenizer.encode(text, add_special_tokens=special))

    prompts = inputs(body.get("input"), encode, vocabulary_size(engine))
    state.metrics.model_requests.labels(model=model).inc()
    params = GenerationParams(max_tokens=1, pooling=state.config.pooling, lora=lora)
    handles: list[Any] = []
    outputs = []
    try:
        handles = [engine.submit(ids, params) for ids in prompts]
        for i, handle in enumerate(handles):
            try:
                outputs.append(await asyncio.to_thread(handle.result))
            except InvalidArgumentError as exc:  # too long for the context, say
                raise BadRequestError(f"input {i}: {exc}", param="input") from None
    except BaseException as exc:
        for handle in handles[len(outputs):]:  # the inputs not answered yet
            handle.abort()
        if isinstance(exc, EngineStoppedError):
            raise unavailable(exc) from None
        raise
    vectors = [o.embedding for o in outputs]
    size = len(vectors[0]) if vectors and vectors[0] is not None else 0
    if dimensions is not None and dimensions != size:
        raise BadRequestError(f"'dimensions' must be this model's own {size} (it does not "
                              f"shorten embeddings)", param="dimensions")
    used = sum(len(ids) for ids in prompts)
    return JSONResponse({
        "id": f"embd-{uuid.uuid4().hex}", "object": "list", "created": int(time.time()),
        "model": model,
        "data": [{"object": "embedding", "index": i, "embedding": encoded(v or [], encoding)}
                 for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": used, "total_tokens": used}})
