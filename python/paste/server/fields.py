"""Typed reads of request fields: each returns the value or raises BadRequestError naming the
field (`param`), so every route reports bad input the same way."""

from __future__ import annotations

import math
from typing import Any

from paste.server.errors import BadRequestError

_MISSING = object()


def _bad(param: str, what: str) -> BadRequestError:
    return BadRequestError(f"'{param}' {what}", param=param, code="invalid_value")


def opt_str(body: dict[str, Any], key: str, param: str | None = None) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _bad(param or key, "must be a string")


def req_str(body: dict[str, Any], key: str, param: str | None = None) -> str:
    value = body.get(key, _MISSING)
    if value is _MISSING or value is None:
        raise BadRequestError(
            f"missing required parameter '{param or key}'", param=param or key,
            code="missing_required_parameter",
        )  # fmt: skip
    if not isinstance(value, str) or not value:
        raise _bad(param or key, "must be a non-empty string")
    return value


def opt_bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise _bad(key, "must be a boolean")


INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# vLLM's request `priority` (lower runs first): each unit is worth PRIORITY_CLASS of the
# engine's priority, more than any co-scheduling boost, so classes never interleave.
PRIORITY_LIMIT = 1_000_000
PRIORITY_CLASS = 1000.0


def request_priority(body: dict[str, Any]) -> int:
    """The request's `priority` field: an integer in [-PRIORITY_LIMIT, PRIORITY_LIMIT],
    0 when absent; lower runs first."""
    return opt_int(body, "priority", -PRIORITY_LIMIT, PRIORITY_LIMIT) or 0


def prompt_truncation(body: dict[str, Any]) -> int | None:
    """vLLM's `truncate_prompt_tokens`: keep only the prompt's last k tokens (k >= 1), or with
    -1 the last (context length - 1); None when absent."""
    value = opt_int(body, "truncate_prompt_tokens", -1, INT32_MAX)
    if value == 0:
        raise _bad("truncate_prompt_tokens", "must be -1 or at least 1, got 0")
    return value


def class_base(priority: int) -> float:
    """The engine priority (higher runs first) a request `priority` class starts from."""
    return -PRIORITY_CLASS * priority


def opt_int(
    body: dict[str, Any], key: str, minimum: int = INT64_MIN, maximum: int = INT64_MAX
) -> int | None:
    """An integer in [minimum, maximum] or None (the bounds keep values C++ can hold)."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(key, "must be an integer")
    if not minimum <= value <= maximum:
        raise _bad(key, f"must be between {minimum} and {maximum}, got {value}")
    return value


def opt_number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    """A number in [low, high] or None."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(key, "must be a number")
    if not low <= value <= high:
        raise _bad(key, f"must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def opt_list(body: dict[str, Any], key: str) -> list[Any] | None:
    value = body.get(key)
    if value is None or isinstance(value, list):
        return value
    raise _bad(key, "must be an array")


def opt_object(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise _bad(key, "must be an object")


def stop_strings(value: Any) -> tuple[str, ...]:
    """`stop`: null, a string, or an array of up to 4 non-empty strings."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or len(items) > 4
        or any(not isinstance(s, str) or not s for s in items)
    ):
        raise _bad("stop", "must be a non-empty string or an array of up to 4 of them")
    return tuple(items)


MAX_BAD_WORDS = 256


def allowed_token_ids(value: Any) -> tuple[int, ...]:
    """vLLM's `allowed_token_ids`: null or a non-empty array of token ids, the only ones the
    model may write (ids outside the vocabulary are the engine's 400)."""
    if value is None:
        return ()
    if (not isinstance(value, list) or not value
            or any(isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= INT32_MAX
                   for t in value)):
        raise _bad("allowed_token_ids", "must be a non-empty array of token ids")
    return tuple(dict.fromkeys(value))


def bad_words(value: Any) -> tuple[str, ...]:
    """vLLM's `bad_words`: null or an array of up to 256 non-blank strings the model must
    not write (engine/penalties.py)."""
    if value is None:
        return ()
    if (not isinstance(value, list) or len(value) > MAX_BAD_WORDS
            or any(not isinstance(w, str) or not w.strip() for w in value)):
        raise _bad("bad_words", f"must be an array of up to {MAX_BAD_WORDS} non-blank strings")
    return tuple(value)


def stream_usage(body: dict[str, Any]) -> tuple[bool, bool]:
    """(include_usage, continuous) of `stream_options` (null or an object): `include_usage`
    adds a last chunk with the answer's usage; vLLM's `continuous_usage_stats` (a boolean)
    also puts the running usage of its choice in every chunk, and implies include_usage
    unless that is false."""
    options = body.get("stream_options")
    if options is None:
        return False, False
    if not isinstance(options, dict):
        raise _bad("stream_options", "must be an object")
    continuous = options.get("continuous_usage_stats")
    if continuous is not None and not isinstance(continuous, bool):
        raise _bad("stream_options.continuous_usage_stats", "must be a boolean")
    include = options.get("include_usage")
    if include is None:
        return bool(continuous), bool(continuous)
    return bool(include), bool(include and continuous)


MAX_METADATA, MAX_KEY, MAX_VALUE = 16, 64, 512  # OpenAI's limits on `metadata`


def metadata_field(body: dict[str, Any], required: bool = False) -> dict[str, str]:
    """`metadata`: an object of at most 16 string pairs (keys <= 64 characters, values <=
    512); {} when absent (a 400 when `required`)."""
    value = body.get("metadata")
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA:
        raise _bad("metadata", f"must be an object of at most {MAX_METADATA} pairs")
    for key, text in value.items():
        if len(key) > MAX_KEY or not isinstance(text, str) or len(text) > MAX_VALUE:
            raise BadRequestError(
                f"'metadata.{key[:MAX_KEY]}': keys are strings of at most {MAX_KEY} "
                f"characters, values strings of at most {MAX_VALUE}", param="metadata",
                code="invalid_value")  # fmt: skip
    return dict(value)
