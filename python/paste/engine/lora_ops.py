"""LoraOps: the LoRA loads and unloads a ProcessEngine sent to its engine process and that
were not answered yet, and the adapter set a new engine process starts with.

The parent sends `("lora", op id, "load" | "unload", name, path)`; the child runs it between
steps (EngineCore.load_lora / unload_lora) and answers `("lora", [(op id, error or None)],
None)`. A success changes the adapter set (EngineConfig.lora_modules) a restarted child loads;
an engine process that exits first fails the op (its outcome unknown, the set unchanged).
Not thread-safe: the ProcessEngine's lock guards it.
"""

from __future__ import annotations

from concurrent.futures import Future


class LoraOps:
    def __init__(self) -> None:
        self._ops: dict[int, tuple[Future[None], str, str, str | None]] = {}
        self._next = 0

    def start(self, op: str, name: str, path: str | None) -> tuple[int, Future[None]]:
        """A new op's id and the future its answer settles."""
        op_id, self._next = self._next, self._next + 1
        done: Future[None] = Future()
        self._ops[op_id] = (done, op, name, path)
        return op_id, done

    def cancel(self, op_id: int) -> None:
        """Forget an op that could not be sent."""
        self._ops.pop(op_id, None)

    def answer(self, op_id: int, error: BaseException | None,
               modules: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """Settles op `op_id`; the adapter set after it (`modules` unless it succeeded)."""
        entry = self._ops.pop(op_id, None)
        if entry is None:
            return modules
        done, op, name, path = entry
        if error is not None:
            done.set_exception(error)
            return modules
        kept = tuple((n, p) for n, p in modules if n != name)
        done.set_result(None)
        return kept + ((name, path),) if op == "load" and path is not None else kept

    def fail_all(self, error: BaseException) -> None:
        for done, *_ in self._ops.values():
            done.set_exception(error)
        self._ops.clear()
