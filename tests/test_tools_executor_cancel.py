"""ToolFuture.cancel: queued jobs never start, running ones are stopped where possible.

Fake tools block on threading/asyncio events instead of sleeping; every wait is bounded.
"""

import asyncio
import threading

from paste.tools import ToolExecutor, ToolJob, ToolRegistry

WAIT_S = 10.0  # upper bound for every wait; never reached when the code is right


def _failure(result) -> tuple:
    return (result.call_id, result.name, result.ok, result.content, result.error, result.error_kind)


def test_cancel_queued_and_running_jobs():
    registry = ToolRegistry()
    started = threading.Event()
    cancelled = threading.Event()

    @registry.tool(max_concurrency=1)
    async def slow(tag: str) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return tag

    with ToolExecutor(registry) as executor:
        running = executor.submit(ToolJob("run", "slow", {"tag": "a"}))
        queued = executor.submit(ToolJob("wait", "slow", {"tag": "b"}))
        assert started.wait(WAIT_S)
        assert executor.num_waiting("slow") == 1
        assert queued.cancel() is True
        assert executor.num_waiting("slow") == 0
        assert _failure(queued.result(0)) == (
            "wait", "slow", False, "tool call 'wait' was cancelled",
            "tool call 'wait' was cancelled", "cancelled",
        )  # fmt: skip
        assert queued.result(0).tool_s == 0.0
        assert running.cancel() is True
        assert running.result(WAIT_S).error_kind == "cancelled"
        assert cancelled.wait(WAIT_S)
        assert running.cancel() is False  # already done


def test_job_cancelled_while_waiting_for_a_pool_thread_never_runs():
    registry = ToolRegistry()
    release = threading.Event()
    entered = threading.Event()
    side_effects: list[str] = []

    @registry.tool()
    def blocker() -> str:
        entered.set()
        release.wait(WAIT_S)
        return "unblocked"

    @registry.tool()
    def send(to: str) -> str:
        side_effects.append(to)
        return "sent"

    executor = ToolExecutor(registry, max_workers=1)
    blocking = executor.submit(ToolJob("b", "blocker"))
    assert entered.wait(WAIT_S)
    pending = executor.submit(ToolJob("s", "send", {"to": "bob"}))  # admitted, no free thread
    assert executor.num_running("send") == 1
    assert pending.cancel() is True
    release.set()
    assert blocking.result(WAIT_S).content == "unblocked"
    executor.shutdown()  # joins the pool thread, which skipped the cancelled job
    assert side_effects == []
    assert pending.result(0).error_kind == "cancelled"
    assert executor.num_running("send") == 0


def test_withdraw_cancels_only_a_queued_job():
    import threading

    from paste.tools import ToolExecutor, ToolJob, ToolRegistry

    registry = ToolRegistry()
    gate, started, ran = threading.Event(), threading.Event(), []

    @registry.tool(effect="read_only", max_concurrency=1, timeout_s=10)
    def hold(key: str) -> str:
        ran.append(key)
        started.set()
        gate.wait(10)
        return key

    with ToolExecutor(registry) as executor:
        first = executor.submit(ToolJob("c1", "hold", {"key": "a"}))
        assert started.wait(10)
        queued = executor.submit(ToolJob("c2", "hold", {"key": "b"}))
        assert first.withdraw() is False  # running: left alone
        assert queued.withdraw() is True  # queued: withdrawn, never runs
        assert queued.withdraw() is False
        gate.set()
        assert first.result(10).content == "a"
        assert (queued.result(10).ok, queued.result(10).error_kind) == (False, "cancelled")
    assert ran == ["a"]
    registry.close()
