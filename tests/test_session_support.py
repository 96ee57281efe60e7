"""Helpers shared by the session tests (no tests here): a tiny engine and a scripted policy.

FakeScriptedPolicy stands in for a model's decisions: before each model turn the session asks
it for GenerationParams, and it returns the next scripted assistant text as forced tokens, so
the tiny random model "writes" exactly that text with real forward passes and real KV.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MAX_POSITIONS = 4096

Script = Sequence[str | Callable[[list[dict[str, Any]]], str]]


def build_long_tiny_model(folder: Path) -> Path:
    """tests/tiny_model.py's llama with 4096 positions instead of 512 (RoPE has no learned
    positions, so only the config changes): room for tool schemas in the system prompt."""
    from tiny_model import build_tiny_model  # torch: imported only by tests that build

    build_tiny_model(folder, "llama")
    config = json.loads((folder / "config.json").read_text())
    config["max_position_embeddings"] = MAX_POSITIONS
    (folder / "config.json").write_text(json.dumps(config))
    return folder


_FOLDERS: dict[str, Path] = {}


def shared_tiny_folder(tmp_path_factory: Any) -> Path:
    """One long tiny model for every session test of this pytest process (building takes
    seconds; engines on it are cheap)."""
    if "llama" not in _FOLDERS:
        _FOLDERS["llama"] = build_long_tiny_model(tmp_path_factory.mktemp("tiny-session"))
    return _FOLDERS["llama"]


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def add_registry() -> Any:
    """A ToolRegistry holding only `add` (pure)."""
    from paste.tools import ToolRegistry

    tools = ToolRegistry()
    tools.add_function(add, effect="pure")
    return tools


def tiny_engine(folder: Path, num_blocks: int = 2048, **overrides: Any) -> Any:
    """An engine on `folder` with small blocks; attention "torch" unless overridden."""
    from paste.engine.engine import Engine  # torch: not at import, see test_session_faults

    overrides.setdefault("attention_backend", "torch")
    return Engine(str(folder), block_size=4, num_blocks=num_blocks, num_threads=1, **overrides)


def call_text(name: str, **arguments: Any) -> str:
    """A tool call in the "json" format the tiny model's sessions parse."""
    return json.dumps({"name": name, "arguments": arguments})


class FakeScriptedPolicy:
    """Turn n of a run gets script[n] (a text, or a function of the messages so far).

    The turn number is the count of assistant messages after the last user message, so one
    policy serves several runs of a session and many sessions at once (it keeps no state).
    """

    def __init__(self, engine: Any, script: Script) -> None:
        self.engine = engine
        self.script = list(script)

    def text_for(self, messages: list[dict[str, Any]]) -> str:
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        turn = sum(m["role"] == "assistant" for m in messages[last_user:])
        step = self.script[min(turn, len(self.script) - 1)]
        return step(messages) if callable(step) else step

    def __call__(self, messages: list[dict[str, Any]]) -> Any:
        from paste.engine.request import GenerationParams

        ids = self.engine.encode(self.text_for(messages)) + [self.engine.tokenizer.eos_token_id]
        return GenerationParams(forced_tokens=tuple(ids))
