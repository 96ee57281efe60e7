"""vLLM's `--generation-config`: the model creator's sampling defaults for requests that set
none.

A model folder's generation_config.json often carries the sampling its creator recommends
(Qwen2.5-Instruct: temperature 0.7, top_p 0.8, top_k 20, repetition_penalty 1.05). As vLLM
does by default, `paste serve` uses those values for every OpenAI request (chat, completions,
Responses) that leaves the field out or null; a value the request gives always wins.

    --generation-config auto     the model folder's generation_config.json (the default)
    --generation-config vllm     none: the OpenAI API's own defaults (temperature 1, ...)
    --generation-config DIR      DIR/generation_config.json
    --override-generation-config '{"temperature": 0.5}'   merged over either (vLLM's flag)

Read fields (vLLM's list): temperature, top_p, top_k, min_p, repetition_penalty and
max_new_tokens (the default max_tokens / max_output_tokens). As in vLLM, a field whose value
is transformers' own default (temperature 1.0, top_p 1.0, top_k 50, repetition_penalty 1.0)
is not a recommendation and is skipped. A value the API would refuse in a request is a typed
error naming the file and the field, at start (`paste serve` exits 2).

The Responses API has no top_k, min_p or repetition_penalty fields: those defaults apply to
its requests as they are (`params_defaults`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from paste.server.chat_request import adjusted, sampling_params
from paste.server.fields import INT32_MAX, opt_int

FIELDS = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "max_new_tokens")
_HF_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "top_k": 50, "repetition_penalty": 1.0}


class GenerationConfigError(InvalidArgumentError):
    """A generation config that cannot be read, or that holds a value no request may set."""


def _check(field: str, value: Any, where: str) -> Any:
    """`value`, if a chat request may set `field` to it: checked by the request parser itself
    (max_new_tokens as max_tokens), so the two never disagree."""
    body = {"max_tokens" if field == "max_new_tokens" else field: value}
    try:
        opt_int(body, "max_tokens", minimum=1, maximum=INT32_MAX)
        adjusted(body, sampling_params(body, None, 1, ()), constrained=False)
    except InvalidArgumentError as exc:
        raise GenerationConfigError(f"{where}: {field} = {value!r} is not a value a request "
                                    f"may set") from exc
    return value


def _read(folder: Path) -> dict[str, Any]:
    path = folder / "generation_config.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise GenerationConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise GenerationConfigError(f"{path} is not a JSON object")
    return {f: _check(f, raw[f], str(path)) for f in FIELDS
            if raw.get(f) is not None and raw[f] != _HF_DEFAULTS.get(f)}


def load_generation_defaults(source: str, model_folder: str | Path | None,
                             override: str | Mapping[str, Any] | None = None
                             ) -> dict[str, float | int]:
    """The sampling defaults `source` ("auto", "vllm" or a folder) and `override` (a JSON
    object, or its text) give, keyed by request field name (max_new_tokens as max_tokens)."""
    if source == "vllm":
        found: dict[str, Any] = {}
    elif source == "auto":
        found = _read(Path(model_folder)) if model_folder is not None else {}
    else:
        folder = Path(source)
        if not (folder / "generation_config.json").is_file():
            raise GenerationConfigError(f"--generation-config {source}: no "
                                        f"generation_config.json there")
        found = _read(folder)
    if override is not None:
        if isinstance(override, str):
            try:
                override = json.loads(override)
            except ValueError as exc:
                raise GenerationConfigError(f"--override-generation-config is not JSON: "
                                            f"{exc}") from exc
        if not isinstance(override, Mapping):
            raise GenerationConfigError("--override-generation-config must be a JSON object")
        unknown = sorted(set(override) - set(FIELDS))
        if unknown:
            raise GenerationConfigError(f"--override-generation-config: unknown field(s) "
                                        f"{', '.join(unknown)} (known: {', '.join(FIELDS)})")
        found.update({f: _check(f, v, "--override-generation-config")
                      for f, v in override.items()})
    if "max_new_tokens" in found:
        found["max_tokens"] = found.pop("max_new_tokens")
    return found


_BODY_FIELDS = {
    "chat": ("temperature", "top_p", "top_k", "min_p", "repetition_penalty"),
    "completions": ("temperature", "top_p", "top_k", "min_p", "repetition_penalty"),
    "responses": ("temperature", "top_p"),
}
_MAX_FIELDS = {"chat": ("max_tokens", "max_completion_tokens"),
               "completions": ("max_tokens",), "responses": ("max_output_tokens",)}


def with_defaults(body: dict[str, Any], defaults: Mapping[str, float | int],
                  api: str) -> dict[str, Any]:
    """`body` with each default set where the request leaves the field out or null (a copy;
    `body` itself when there are no defaults). `api`: "chat", "completions" or "responses"."""
    if not defaults:
        return body
    out = dict(body)
    for field in _BODY_FIELDS[api]:
        if field in defaults and out.get(field) is None:
            out[field] = defaults[field]
    if "max_tokens" in defaults and all(out.get(f) is None for f in _MAX_FIELDS[api]):
        out[_MAX_FIELDS[api][0]] = defaults["max_tokens"]
    return out


def params_defaults(params: GenerationParams,
                    defaults: Mapping[str, float | int]) -> GenerationParams:
    """A Responses request's params with the defaults it has no field for (top_k, min_p,
    repetition_penalty)."""
    if not any(f in defaults for f in ("top_k", "min_p", "repetition_penalty")):
        return params
    top_k = int(defaults.get("top_k", params.top_k))
    return replace(params, top_k=0 if top_k == -1 else top_k,  # -1 and 0: no top-k
                   min_p=float(defaults.get("min_p", params.min_p)),
                   repetition_penalty=float(defaults.get("repetition_penalty",
                                                         params.repetition_penalty)))
