"""isolation="process": a crashing or hanging tool is contained in its own subprocess.

The tools below are module-level so the spawned child can import them by name.
"""

import ctypes
import os
import threading

import pytest

from paste.tools import ToolExecutor, ToolJob, ToolRegistry

WAIT_S = 30.0  # spawn start-up included; never reached when the code is right


def double(n: int) -> dict:
    return {"n": n, "double": 2 * n, "pid_differs": os.getpid() != int(os.environ["PARENT_PID"])}


async def async_double(n: int) -> int:
    return 2 * n


def exit_hard(code: int) -> str:
    os._exit(code)


def segfault() -> str:
    ctypes.string_at(0)  # reads address 0: SIGSEGV
    return "unreachable"


def raise_error(message: str) -> str:
    raise RuntimeError(message)


def hang_forever() -> str:
    threading.Event().wait()
    return "unreachable"


@pytest.fixture(scope="module")
def executor():
    os.environ["PARENT_PID"] = str(os.getpid())
    registry = ToolRegistry()
    for fn in (double, async_double, exit_hard, segfault, raise_error):
        registry.add_function(fn, isolation="process")
    registry.add_function(hang_forever, isolation="process", timeout_s=0.5)
    executor = ToolExecutor(registry, max_workers=4)
    yield executor
    executor.shutdown()
    os.environ.pop("PARENT_PID", None)


def _fields(result):
    return (result.call_id, result.name, result.ok, result.content, result.error, result.error_kind)


def test_process_tools_return_results(executor: ToolExecutor):
    futures = [
        executor.submit(ToolJob("c1", "double", {"n": "21"})),
        executor.submit(ToolJob("c2", "async_double", {"n": 4})),
    ]
    first, second = (f.result(WAIT_S) for f in futures)
    assert _fields(first) == (
        "c1", "double", True, '{"n": 21, "double": 42, "pid_differs": true}', None, None
    )  # fmt: skip
    assert _fields(second) == ("c2", "async_double", True, "8", None, None)


def test_crashes_and_errors_are_contained(executor: ToolExecutor):
    futures = [
        executor.submit(ToolJob("c1", "exit_hard", {"code": 3})),
        executor.submit(ToolJob("c2", "segfault", {})),
        executor.submit(ToolJob("c3", "raise_error", {"message": "no space"})),
    ]
    exited, crashed, raised = (f.result(WAIT_S) for f in futures)
    message = "tool 'exit_hard' crashed: exit code 3"
    assert _fields(exited) == ("c1", "exit_hard", False, message, message, "crashed")
    message = "tool 'segfault' crashed: killed by signal SIGSEGV"
    assert _fields(crashed) == ("c2", "segfault", False, message, message, "crashed")
    message = "tool 'raise_error' raised RuntimeError: no space"
    assert _fields(raised) == ("c3", "raise_error", False, message, message, "tool_error")
    # The engine process is alive and the executor still works after the crashes.
    assert executor.submit(ToolJob("c4", "double", {"n": 1})).result(WAIT_S).ok is True


def test_hanging_process_is_killed_on_timeout(executor: ToolExecutor):
    result = executor.submit(ToolJob("c1", "hang_forever")).result(WAIT_S)
    message = "tool 'hang_forever' timed out after 0.5 s"
    assert _fields(result) == ("c1", "hang_forever", False, message, message, "timeout")
    assert executor.num_running("hang_forever") == 0  # killed and reaped before completion


def test_cancel_kills_a_running_process(executor: ToolExecutor):
    future = executor.submit(ToolJob("c1", "hang_forever", timeout_s=WAIT_S))
    assert future.cancel() is True
    assert future.result(0).error_kind == "cancelled"
