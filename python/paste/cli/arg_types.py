"""argparse value types shared by several sub-commands."""

from __future__ import annotations

import argparse
import json

from paste.engine.pooling import PoolingParams
from paste.errors import InvalidArgumentError


def waste_ratio_arg(text: str) -> float | None:
    """--max-waste-ratio: a finite number >= 0, or `none` (unbounded)."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < float("inf"):  # also false for nan
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0 or 'none', got {text!r}")
    return value


def pooler_config_arg(text: str) -> PoolingParams:
    """--pooler-config (vLLM's): a JSON object of `pooling_type` ("LAST" or "MEAN") and
    `normalize` (true or false), e.g. '{"pooling_type": "MEAN", "normalize": false}'."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    unknown = sorted(set(value) - {"pooling_type", "normalize"})
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown key {unknown[0]!r} (paste takes "
                                         f"pooling_type and normalize)")
    try:
        return PoolingParams(**value)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def string_list_arg(text: str) -> tuple[str, ...]:
    """A JSON array of non-empty strings (vLLM's --allowed-origins and its siblings), e.g.
    '["http://localhost:3000"]'."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise argparse.ArgumentTypeError(
            f"expected a JSON array of non-empty strings such as '[\"*\"]', got {text!r}")
    return tuple(value)
