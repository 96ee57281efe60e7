"""BFCL's API classes, executed: the tool outputs the ground-truth calls of a conversation
produce.

BFCL records no tool outputs; its evaluator obtains them by running each conversation's calls
on fresh instances of the involved API classes (GorillaFileSystem, TradingBot, TravelAPI ...)
loaded with the conversation's `initial_config`. Those classes ship in the `bfcl-eval` package
(installed without its dependencies: the classes need only the standard library and mpmath);
this module runs the same calls on them, so BFCL sessions carry real outputs (a listing, an
order id, a stock price) that later calls' arguments flow from. The classes seed their own
random ids, so the outputs are deterministic.

`available()` says whether the package is importable; `Backend` is one conversation's set of
instances. A call whose method raises, or that returns an object with an "error" key, is a
failed step (status "error") whose output is that error, as BFCL reports it.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import json
from collections.abc import Callable
from typing import Any

from paste.patterns.trace import Status

PACKAGE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"
INSTALL_HINT = "pip install --no-deps bfcl-eval==2026.3.23"
STATELESS = frozenset({"MathAPI"})  # no scenario to load


def available() -> bool:
    """Whether bfcl-eval's API classes can be imported."""
    try:
        return importlib.util.find_spec(PACKAGE) is not None
    except ModuleNotFoundError:
        return False


class BackendError(Exception):
    """A conversation whose API classes cannot be instantiated (unknown class, bad config)."""


def render(result: Any) -> str:
    """A method's return value as the tool output text: JSON when it serialises, else str."""
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(result)


class Backend:
    """Fresh instances of one conversation's API classes, loaded with its initial config."""

    def __init__(self, classes: list[str], modules: dict[str, str], config: Any) -> None:
        """classes: `involved_classes`; modules: class -> module name under PACKAGE;
        config: `initial_config` (class -> scenario). Raises BackendError."""
        self._methods: dict[str, Callable[..., Any]] = {}
        config = config if isinstance(config, dict) else {}
        for cls in classes:
            module = modules.get(cls)
            if module is None:
                raise BackendError(f"no API module for class {cls!r}")
            try:
                instance = getattr(importlib.import_module(f"{PACKAGE}.{module}"), cls)()
                if cls not in STATELESS:
                    instance._load_scenario(copy.deepcopy(config.get(cls, {})))
            except Exception as exc:  # noqa: BLE001 - any failure of the third-party class
                raise BackendError(f"{cls}: {type(exc).__name__}: {exc}") from exc
            for name, method in inspect.getmembers(instance, predicate=inspect.ismethod):
                if not name.startswith("_"):
                    self._methods[name] = method

    def call(self, name: str, arguments: dict[str, Any]) -> tuple[str, Status]:
        """Run one call; (output text, "ok" or "error")."""
        method = self._methods.get(name)
        if method is None:
            return render({"error": f"No such function: {name}"}), "error"
        try:
            result = method(**arguments)
        except Exception as exc:  # noqa: BLE001 - the API's failure is the step's output
            return render({"error": f"{type(exc).__name__}: {exc}"}), "error"
        failed = isinstance(result, dict) and "error" in result
        return render(result), "error" if failed else "ok"
