"""paste.tools.executor: every fault becomes an exact ToolResult; limits, cancel and shutdown.

Fake tools block on threading/asyncio events instead of sleeping; every wait is bounded.
"""

import asyncio
import threading

import pytest

from paste.tools import (
    ExecutorClosedError,
    SpeculationPolicy,
    ToolExecutor,
    ToolJob,
    ToolRegistry,
    ToolResult,
    ToolWaitTimeoutError,
)

WAIT_S = 10.0  # upper bound for every wait; never reached when the code is right


def _failure(result: ToolResult) -> tuple:
    return (result.call_id, result.name, result.ok, result.content, result.error, result.error_kind)


@pytest.fixture
def registry() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool(effect="pure")
    def add(a: int, b: int) -> int:
        return a + b

    @registry.tool(effect="read_only")
    async def shout(text: str) -> dict:
        await asyncio.sleep(0)
        return {"text": text.upper(), "ok": True}

    @registry.tool()
    def explode(message: str) -> str:
        raise ValueError(message)

    @registry.tool()
    def make_bytes() -> bytes:
        return b"raw"

    @registry.tool(effect="pure")
    def big(n: int) -> str:
        return "x" * n

    return registry


@pytest.fixture
def executor(registry: ToolRegistry):
    executor = ToolExecutor(registry, max_workers=8, max_result_bytes=32)
    yield executor
    executor.shutdown()


def test_sync_and_async_tools_succeed(executor: ToolExecutor):
    added = executor.submit(ToolJob("c1", "add", {"a": 2, "b": "3"})).result(WAIT_S)
    shouted = executor.submit(ToolJob("c2", "shout", '{"text": "hé"}')).result(WAIT_S)
    assert _failure(added) == ("c1", "add", True, "5", None, None)
    assert _failure(shouted) == ("c2", "shout", True, '{"text": "HÉ", "ok": true}', None, None)
    for result in (added, shouted):
        assert result.started_at <= result.finished_at
        assert result.queue_s >= 0 and result.tool_s == result.finished_at - result.started_at
    assert executor.num_running("add") == 0 and executor.num_running("shout") == 0


def test_unknown_tool(executor: ToolExecutor):
    result = executor.submit(ToolJob("c1", "nope", {})).result(WAIT_S)
    message = "unknown tool 'nope'; available tools: add, shout, explode, make_bytes, big"
    assert _failure(result) == ("c1", "nope", False, message, message, "unknown_tool")
    assert (result.queue_s, result.tool_s, result.started_at) == (0.0, 0.0, result.finished_at)


@pytest.mark.parametrize(
    ("arguments", "detail"),
    [
        ('{"a": 1,', "not valid JSON (Expecting property name enclosed in double quotes at position 8)"),
        ("[1, 2]", "expected a JSON object, got list"),
        ({"a": "one", "c": 3}, "a: Input should be a valid integer, unable to parse string as an "
         "integer; b: missing required argument; c: unknown argument"),
    ],
)  # fmt: skip
def test_invalid_arguments(executor: ToolExecutor, arguments, detail: str):
    result = executor.submit(ToolJob("c1", "add", arguments)).result(WAIT_S)
    message = f"invalid arguments for tool 'add': {detail}"
    assert _failure(result) == ("c1", "add", False, message, message, "invalid_arguments")
    assert (result.queue_s, result.tool_s) == (0.0, 0.0)


def test_tool_that_raises_and_unrenderable_result(executor: ToolExecutor):
    raised = executor.submit(ToolJob("c1", "explode", {"message": "disk full"})).result(WAIT_S)
    message = "tool 'explode' raised ValueError: disk full"
    assert _failure(raised) == ("c1", "explode", False, message, message, "tool_error")
    unrenderable = executor.submit(ToolJob("c2", "make_bytes")).result(WAIT_S)
    message = (
        "tool 'make_bytes' returned an unrenderable result: result of type bytes is not "
        "JSON-serialisable: Object of type bytes is not JSON serializable"
    )
    assert _failure(unrenderable) == ("c2", "make_bytes", False, message, message, "tool_error")


def test_result_over_the_limit_is_truncated_with_a_marker(executor: ToolExecutor):
    exact = executor.submit(ToolJob("c1", "big", {"n": 32})).result(WAIT_S)
    assert _failure(exact) == ("c1", "big", True, "x" * 32, None, None)
    cut = executor.submit(ToolJob("c2", "big", {"n": 100})).result(WAIT_S)
    error = "result of tool 'big' exceeded 32 bytes; 68 bytes were cut"
    content = "x" * 32 + "…[truncated 68 bytes]"
    assert _failure(cut) == ("c2", "big", True, content, error, "truncated")


def test_hanging_sync_tool_times_out_and_keeps_its_slot_until_it_returns():
    registry = ToolRegistry()
    release = threading.Event()

    @registry.tool(timeout_s=0.05)
    def hang() -> str:
        release.wait(WAIT_S)
        return "late"

    executor = ToolExecutor(registry)
    future = executor.submit(ToolJob("c1", "hang"))
    result = future.result(WAIT_S)
    message = "tool 'hang' timed out after 0.05 s"
    assert _failure(result) == ("c1", "hang", False, message, message, "timeout")
    assert executor.num_running("hang") == 1  # the abandoned thread still runs
    release.set()
    executor.shutdown()  # joins the pool: the thread has returned
    assert executor.num_running("hang") == 0
    assert future.result(0) is result  # the late "late" was discarded


def test_hanging_async_tool_is_cancelled_on_timeout():
    registry = ToolRegistry()
    cancelled = threading.Event()

    @registry.tool(timeout_s=0.05)
    async def stall() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    with ToolExecutor(registry) as executor:
        result = executor.submit(ToolJob("c1", "stall")).result(WAIT_S)
        message = "tool 'stall' timed out after 0.05 s"
        assert _failure(result) == ("c1", "stall", False, message, message, "timeout")
        assert cancelled.wait(WAIT_S)


def test_job_timeout_overrides_tool_timeout(executor: ToolExecutor, registry: ToolRegistry):
    gate = threading.Event()

    @registry.tool(timeout_s=30)
    def wait_gate() -> str:
        gate.wait(WAIT_S)
        return "open"

    result = executor.submit(ToolJob("c1", "wait_gate", timeout_s=0.05)).result(WAIT_S)
    assert (result.error_kind, result.error) == (
        "timeout",
        "tool 'wait_gate' timed out after 0.05 s",
    )
    gate.set()


def test_max_concurrency_is_enforced():
    registry = ToolRegistry()
    lock = threading.Lock()
    counts = {"in_flight": 0, "max_in_flight": 0}
    entered = threading.Semaphore(0)
    gate = threading.Event()

    @registry.tool(effect="pure", max_concurrency=2)
    def work(i: int) -> int:
        with lock:
            counts["in_flight"] += 1
            counts["max_in_flight"] = max(counts["max_in_flight"], counts["in_flight"])
        entered.release()
        gate.wait(WAIT_S)
        with lock:
            counts["in_flight"] -= 1
        return i

    with ToolExecutor(registry, max_workers=8) as executor:
        futures = [executor.submit(ToolJob(f"c{i}", "work", {"i": i})) for i in range(6)]
        assert entered.acquire(timeout=WAIT_S) and entered.acquire(timeout=WAIT_S)
        assert (executor.num_running("work"), executor.num_waiting("work")) == (2, 4)
        assert [f.done() for f in futures] == [False] * 6
        gate.set()
        results = [f.result(WAIT_S) for f in futures]
    assert [(r.call_id, r.ok, r.content) for r in results] == [
        (f"c{i}", True, str(i)) for i in range(6)
    ]
    assert counts == {"in_flight": 0, "max_in_flight": 2}
    assert (executor.num_running("work"), executor.num_waiting("work")) == (0, 0)


def test_speculative_jobs_respect_effect_class_policy_and_sandbox():
    registry = ToolRegistry()
    policy = SpeculationPolicy(allowed=lambda args: args["host"] == "docs.local")

    @registry.tool(effect="read_only", speculation=policy)
    def fetch(host: str) -> str:
        return f"page from {host}"

    @registry.tool(effect="side_effect")
    def send(to: str) -> str:
        return f"sent to {to}"

    @registry.tool(effect="side_effect", sandbox=lambda path: f"dry-run write {path}")
    def write(path: str) -> str:
        return f"wrote {path}"

    with ToolExecutor(registry) as executor:

        def run(name, args, speculative=True):
            return executor.submit(ToolJob("s", name, args, speculative=speculative)).result(WAIT_S)

        assert run("fetch", {"host": "docs.local"}).content == "page from docs.local"
        refused = run("fetch", {"host": "bank.example"})
        message = "tool 'fetch' may not run speculatively with these arguments"
        assert _failure(refused) == ("s", "fetch", False, message, message, "not_speculable")
        assert run("send", {"to": "bob"}).error_kind == "not_speculable"
        assert run("send", {"to": "bob"}, speculative=False).content == "sent to bob"
        assert run("write", {"path": "a.txt"}).content == "dry-run write a.txt"
        assert run("write", {"path": "a.txt"}, speculative=False).content == "wrote a.txt"


def test_future_callbacks_wait_timeout_and_shutdown():
    registry = ToolRegistry()

    @registry.tool()
    async def parked() -> str:
        await asyncio.Event().wait()
        return "never"

    @registry.tool(effect="pure")
    def quick() -> str:
        return "done"

    executor = ToolExecutor(registry)
    seen: list[str] = []
    future = executor.submit(ToolJob("p", "parked"))
    future.add_done_callback(lambda f: seen.append(f.result(0).error_kind))
    with pytest.raises(ToolWaitTimeoutError):
        future.result(0)
    finished = executor.submit(ToolJob("q", "quick"))
    finished.result(WAIT_S)
    finished.add_done_callback(lambda f: seen.append(f.result(0).content))  # runs at once
    assert seen == ["done"]
    executor.shutdown()
    result = future.result(0)
    message = "tool call 'p' was cancelled: executor shut down"
    assert _failure(result) == ("p", "parked", False, message, message, "cancelled")
    assert seen == ["done", "cancelled"]
    with pytest.raises(ExecutorClosedError):
        executor.submit(ToolJob("late", "quick"))
    executor.shutdown()  # idempotent


def test_tool_time_is_zero_while_queued_grows_while_running_and_is_tool_s_when_done():
    registry = ToolRegistry()
    gate, started = threading.Event(), threading.Event()

    @registry.tool(effect="read_only", max_concurrency=1)
    def hold(key: str) -> str:
        started.set()
        gate.wait(WAIT_S)
        return key

    executor = ToolExecutor(registry, max_workers=4)
    try:
        first = executor.submit(ToolJob("c1", "hold", {"key": "a"}))
        assert started.wait(WAIT_S)
        queued = executor.submit(ToolJob("c2", "hold", {"key": "b"}))  # the lane is full
        assert queued.started() is False and queued.tool_time() == 0.0
        t0 = first.tool_time()
        assert t0 >= 0.0
        assert first.tool_time(now=first._started_at + 2.5) == 2.5  # type: ignore[operator]
        gate.set()
        res = first.result(WAIT_S)
        assert first.tool_time() == res.tool_s and res.tool_s >= t0
        assert first.tool_time(now=1e12) == res.tool_s  # done: no longer grows
        assert queued.result(WAIT_S).content == "b"
    finally:
        gate.set()
        executor.shutdown()
