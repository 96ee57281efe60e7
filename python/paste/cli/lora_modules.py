"""vLLM's --lora-modules values as (name, path) pairs (EngineConfig.lora_modules); no torch
import, so the command line parses fast."""

from __future__ import annotations

import json

from paste.errors import InvalidArgumentError


def parse_lora_modules(specs: list[str]) -> tuple[tuple[str, str], ...]:
    """vLLM's --lora-modules values, `name=path` or a JSON object {"name", "path",
    "base_model_name"?}, as (name, path) pairs; InvalidArgumentError for a malformed one or
    a name given twice."""
    out: list[tuple[str, str]] = []
    for spec in specs:
        if spec.lstrip().startswith("{"):
            try:
                obj = json.loads(spec)
            except ValueError:
                raise InvalidArgumentError(f"--lora-modules {spec!r}: invalid JSON") from None
            name, path = (obj.get("name"), obj.get("path")) if isinstance(obj, dict) else (None,
                                                                                           None)
        else:
            name, _, path = spec.partition("=")
        if not isinstance(name, str) or not name or not isinstance(path, str) or not path:
            raise InvalidArgumentError(
                f"--lora-modules {spec!r}: expected name=path or {{\"name\": ..., \"path\": ...}}")
        if any(name == seen for seen, _ in out):
            raise InvalidArgumentError(f"--lora-modules names {name!r} twice")
        out.append((name, path))
    return tuple(out)
