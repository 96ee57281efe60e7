"""vLLM's --speculative-config for the speculative decoding paste has: its "ngram" method
(prompt lookup), as EngineConfig's num_draft_tokens / draft_ngram_max / draft_ngram_min.

    --speculative-config '{"method": "ngram", "num_speculative_tokens": 3,
                           "prompt_lookup_max": 4, "prompt_lookup_min": 2}'

num_speculative_tokens is required. As in vLLM, a lookup bound given alone sets the other to
the same size; with neither, paste's own defaults hold (4 and 2). Another method (a draft
model, EAGLE, MTP, ...), another key, or the same knob also given by its paste flag is a typed
error naming it.
"""

from __future__ import annotations

import json
from typing import Any

from paste.errors import InvalidArgumentError

_KEYS = {"method", "num_speculative_tokens", "prompt_lookup_max", "prompt_lookup_min"}
_FIELDS = {"num_speculative_tokens": "num_draft_tokens",
           "prompt_lookup_max": "draft_ngram_max", "prompt_lookup_min": "draft_ngram_min"}
_FLAGS = {"num_draft_tokens": "--num-draft-tokens", "draft_ngram_max": "--draft-ngram-max",
          "draft_ngram_min": "--draft-ngram-min"}


def _error(text: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"--speculative-config: {text}")


def speculative_options(text: str | None, given: dict[str, Any]) -> dict[str, int]:
    """The EngineConfig overrides of a --speculative-config JSON text (None: none); `given`,
    the overrides the other engine flags made, must not set the same fields."""
    if text is None:
        return {}
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise _error(f"not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise _error("must be a JSON object")
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise _error(f"{', '.join(unknown)} not supported: paste drafts by prompt lookup only "
                     "(method ngram, num_speculative_tokens, prompt_lookup_max, "
                     "prompt_lookup_min)")
    if config.get("method") != "ngram":
        raise _error(f"method must be 'ngram' (prompt lookup, the one paste has), got "
                     f"{config.get('method')!r}")
    for key in _FIELDS:
        value = config.get(key)
        if key in config and (not isinstance(value, int) or isinstance(value, bool)
                              or value < 1):
            raise _error(f"{key} must be an integer >= 1, got {value!r}")
    if "num_speculative_tokens" not in config:
        raise _error("num_speculative_tokens is required")
    out = {field: config[key] for key, field in _FIELDS.items() if key in config}
    if "draft_ngram_max" in out and "draft_ngram_min" not in out:
        out["draft_ngram_min"] = out["draft_ngram_max"]
    elif "draft_ngram_min" in out and "draft_ngram_max" not in out:
        out["draft_ngram_max"] = out["draft_ngram_min"]
    both = sorted(set(out) & set(given))
    if both:
        raise _error(f"also given by {', '.join(_FLAGS[f] for f in both)}: use one or the other")
    return out
