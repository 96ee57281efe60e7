"""Every PASTE_* environment variable paste reads, in one typed module.

Read a variable only through the accessor functions below (never `os.environ` elsewhere), so the
table in the README and this file stay the single source of truth. Each accessor reads the
environment at call time (tests may monkeypatch it) and raises `InvalidEnvironmentError`, a
ValueError, when a value is set but malformed; an unset or empty variable means "default".

| variable                 | type | default                       | meaning                              |
|--------------------------|------|-------------------------------|--------------------------------------|
| PASTE_HOME               | path | user cache dir + "/paste"     | root of paste's caches (models/ ...) |
| PASTE_NUM_THREADS        | int  | min(4, os.cpu_count())        | torch intra-op threads on CPU        |
| PASTE_ATTENTION_BACKEND  | str  | "auto"                        | attention backend name (see attention registry) |
| PASTE_DEFAULT_MODEL      | str  | "smollm2-135m-instruct"       | model name used when none is given   |
| PASTE_DEVICE             | str  | "auto"                        | "auto", "cpu", "cuda", "cuda:N"      |
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from paste.errors import InvalidArgumentError


class InvalidEnvironmentError(InvalidArgumentError):
    """A PASTE_* environment variable is set to a value paste cannot use."""


@dataclass(frozen=True)
class EnvVar:
    """Description of one environment variable (name, default as text, one-line meaning)."""

    name: str
    default: str
    help: str


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("PASTE_HOME", "<user cache dir>/paste", "root of paste's caches (models/ ...)"),
    EnvVar("PASTE_NUM_THREADS", "min(4, cpu count)", "torch intra-op threads on CPU"),
    EnvVar("PASTE_ATTENTION_BACKEND", "auto", "attention backend name"),
    EnvVar("PASTE_DEFAULT_MODEL", "smollm2-135m-instruct", "model used when none is given"),
    EnvVar("PASTE_DEVICE", "auto", "torch device: auto, cpu, cuda, cuda:N"),
)


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _user_cache_dir() -> Path:
    """XDG cache dir on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    if os.name == "nt":
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg else Path.home() / ".cache"


def paste_home() -> Path:
    """PASTE_HOME: root folder of paste's caches; not created here."""
    value = _raw("PASTE_HOME")
    if value is None:
        return _user_cache_dir() / "paste"
    return Path(value).expanduser()


def models_dir() -> Path:
    """Folder holding converted models: PASTE_HOME/models."""
    return paste_home() / "models"


def num_threads() -> int:
    """PASTE_NUM_THREADS: a positive int; default min(4, os.cpu_count())."""
    value = _raw("PASTE_NUM_THREADS")
    if value is None:
        return max(1, min(4, os.cpu_count() or 1))
    try:
        parsed = int(value)
    except ValueError:
        raise InvalidEnvironmentError(
            f"PASTE_NUM_THREADS must be a positive integer, got {value!r}"
        ) from None
    if parsed < 1:
        raise InvalidEnvironmentError(f"PASTE_NUM_THREADS must be >= 1, got {parsed}")
    return parsed


def attention_backend() -> str:
    """PASTE_ATTENTION_BACKEND: a backend name, lower-cased; validated by the registry."""
    value = _raw("PASTE_ATTENTION_BACKEND")
    return "auto" if value is None else value.lower()


def default_model() -> str:
    """PASTE_DEFAULT_MODEL: name of the model used when a command names none."""
    value = _raw("PASTE_DEFAULT_MODEL")
    return "smollm2-135m-instruct" if value is None else value


def device() -> str:
    """PASTE_DEVICE: "auto", "cpu", "cuda" or "cuda:N"."""
    value = _raw("PASTE_DEVICE")
    if value is None:
        return "auto"
    lowered = value.lower()
    if lowered in ("auto", "cpu", "cuda"):
        return lowered
    if lowered.startswith("cuda:") and lowered[5:].isdigit():
        return lowered
    raise InvalidEnvironmentError(f"PASTE_DEVICE must be auto, cpu, cuda or cuda:N, got {value!r}")


def triton_interpret() -> bool:
    """TRITON_INTERPRET (Triton's own variable, read here so no other module touches os.environ):
    True when Triton kernels run in its CPU interpreter."""
    return _raw("TRITON_INTERPRET") in ("1", "true", "True")
