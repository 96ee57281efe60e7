"""ToolExecutor on the native DispatchQueue: exact start order across the two lanes, withdraw
and in-place promote of queued speculative jobs, full queues, and a submit/cancel stress test
(every job ran exactly once or was cancelled before it started, never both).

Fake tools block on threading events instead of sleeping; every wait is bounded.
"""

import collections
import random
import threading

import pytest

from paste.errors import InvalidArgumentError
from paste.tools import ToolExecutor, ToolJob, ToolRegistry

WAIT_S = 10.0  # upper bound for every wait; never reached when the code is right


class OneSlotTool:
    """A read-only tool with max_concurrency=1 whose "busy" call holds the slot until opened."""

    def __init__(self, sandbox=None) -> None:
        self.registry = ToolRegistry()
        self.order: list[str] = []
        self.entered, self.gate = threading.Event(), threading.Event()
        options = {"sandbox": sandbox} if sandbox is not None else {}

        @self.registry.tool(effect="read_only", max_concurrency=1, **options)
        def step(tag: str) -> str:
            self.order.append(tag)
            if tag == "busy":
                self.entered.set()
                self.gate.wait(WAIT_S)
            return tag

    def hold_slot(self, executor: ToolExecutor):
        busy = executor.submit(ToolJob("busy", "step", {"tag": "busy"}))
        assert self.entered.wait(WAIT_S)
        return busy


def _submit(executor: ToolExecutor, tag: str, speculative: bool):
    return executor.submit(ToolJob(tag, "step", {"tag": tag}, speculative=speculative))


def test_authoritative_job_starts_before_earlier_speculative_jobs():
    tool = OneSlotTool()
    with ToolExecutor(tool.registry) as executor:
        busy = tool.hold_slot(executor)
        a = _submit(executor, "A", speculative=True)
        b = _submit(executor, "B", speculative=True)
        c = _submit(executor, "C", speculative=False)
        assert (executor.num_running("step"), executor.num_waiting("step")) == (1, 3)
        assert [f.started() for f in (busy, a, b, c)] == [True, False, False, False]
        tool.gate.set()
        results = [f.result(WAIT_S) for f in (busy, a, b, c)]
    assert [(r.call_id, r.ok, r.content) for r in results] == [
        ("busy", True, "busy"), ("A", True, "A"), ("B", True, "B"), ("C", True, "C"),
    ]  # fmt: skip
    assert tool.order == ["busy", "C", "A", "B"]
    assert results[3].started_at < results[1].started_at < results[2].started_at
    assert (executor.num_running("step"), executor.num_waiting("step")) == (0, 0)


def test_withdraw_of_a_queued_speculative_job_and_resubmit_authoritatively():
    tool = OneSlotTool()
    with ToolExecutor(tool.registry) as executor:
        busy = tool.hold_slot(executor)
        a = _submit(executor, "A", speculative=True)
        b = _submit(executor, "B", speculative=True)
        assert busy.withdraw() is False  # started
        assert b.withdraw() is True
        assert b.withdraw() is False
        assert (b.result(0).ok, b.result(0).error_kind, b.result(0).tool_s) == (
            False, "cancelled", 0.0,
        )  # fmt: skip
        again = _submit(executor, "B2", speculative=False)  # the manager's resubmission
        assert executor.num_waiting("step") == 2
        tool.gate.set()
        assert [f.result(WAIT_S).content for f in (busy, a, again)] == ["busy", "A", "B2"]
    assert tool.order == ["busy", "B2", "A"]


def test_promote_moves_a_queued_speculative_job_in_place():
    tool = OneSlotTool()
    with ToolExecutor(tool.registry) as executor:
        busy = tool.hold_slot(executor)
        a = _submit(executor, "A", speculative=True)
        b = _submit(executor, "B", speculative=True)
        c = _submit(executor, "C", speculative=False)
        assert busy.promote() is False  # started
        assert c.promote() is False  # already authoritative
        assert b.promote() is True
        assert b.promote() is False
        assert executor.num_waiting("step") == 3
        tool.gate.set()
        results = [f.result(WAIT_S) for f in (a, b, c)]
        assert a.promote() is False  # done
    assert [(r.call_id, r.content) for r in results] == [("A", "A"), ("B", "B"), ("C", "C")]
    assert tool.order == ["busy", "C", "B", "A"]


def test_promote_refuses_a_job_that_would_run_the_sandbox():
    tool = OneSlotTool(sandbox=lambda tag: f"sandboxed {tag}")
    with ToolExecutor(tool.registry) as executor:
        busy = tool.hold_slot(executor)
        a = _submit(executor, "A", speculative=True)
        assert a.promote() is False
        tool.gate.set()
        assert (busy.result(WAIT_S).content, a.result(WAIT_S).content) == (
            "busy", "sandboxed A",
        )  # fmt: skip
    assert tool.order == ["busy"]


def test_a_full_lane_completes_the_job_as_queue_full_and_never_runs_it():
    tool = OneSlotTool()
    with ToolExecutor(tool.registry, max_queued_per_tool=2) as executor:
        busy = tool.hold_slot(executor)
        queued = [_submit(executor, tag, speculative=True) for tag in ("A", "B")]
        refused = _submit(executor, "X", speculative=True)
        message = (
            "the speculative queue of tool 'step' is full (2 waiting calls); call 'X' was not run"
        )
        r = refused.result(0)
        assert (r.call_id, r.name, r.ok, r.content, r.error, r.error_kind, r.tool_s) == (
            "X", "step", False, message, message, "queue_full", 0.0,
        )  # fmt: skip
        assert refused.withdraw() is False and refused.cancel() is False
        c = _submit(executor, "C", speculative=False)  # the authoritative lane has room
        tool.gate.set()
        assert [f.result(WAIT_S).content for f in (busy, *queued, c)] == ["busy", "A", "B", "C"]
    assert tool.order == ["busy", "C", "A", "B"]


def test_bad_max_queued_per_tool_is_rejected():
    with pytest.raises(InvalidArgumentError, match="max_queued_per_tool must be >= 1, got 0"):
        ToolExecutor(ToolRegistry(), max_queued_per_tool=0)


def test_concurrent_submit_withdraw_cancel_runs_each_job_at_most_once():
    registry = ToolRegistry()
    ran: collections.Counter[str] = collections.Counter()
    ran_lock = threading.Lock()

    @registry.tool(effect="pure", max_concurrency=2)
    def work(tag: str) -> str:
        with ran_lock:
            ran[tag] += 1
        return tag

    num_threads, per_thread = 6, 60
    futures: list = []
    withdrawn: set[str] = set()
    shared_lock = threading.Lock()
    barrier = threading.Barrier(num_threads)

    def client(t: int) -> None:
        rng = random.Random(t)
        barrier.wait(WAIT_S)
        mine = []
        for i in range(per_thread):
            tag = f"t{t}-{i}"
            mine.append(
                executor.submit(ToolJob(tag, "work", {"tag": tag}, speculative=rng.random() < 0.5))
            )
            victim = rng.choice(mine)
            roll = rng.random()
            if roll < 0.3 and victim.withdraw():
                with shared_lock:
                    withdrawn.add(victim.call_id)
            elif roll < 0.45:
                victim.cancel()
        with shared_lock:
            futures.extend(mine)

    with ToolExecutor(registry, max_workers=4) as executor:
        threads = [threading.Thread(target=client, args=(t,)) for t in range(num_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_S)
        results = {f.call_id: f.result(WAIT_S) for f in futures}
    # After shutdown (which joins the pool): a job cancelled while running completed its future
    # at once, but holds its slot until its pool thread has returned or skipped it.
    assert (executor.num_running("work"), executor.num_waiting("work")) == (0, 0)
    assert len(results) == num_threads * per_thread
    assert set(ran) <= set(results) and max(ran.values()) == 1  # never twice
    for call_id, result in results.items():
        if result.ok:
            assert (ran[call_id], result.content) == (1, call_id)
        else:
            assert result.error_kind == "cancelled"
        if call_id in withdrawn:  # withdrawn while queued: never ran
            assert (ran[call_id], result.ok, result.tool_s) == (0, False, 0.0)
        if ran[call_id] == 1 and not result.ok:  # cancelled while running: it had started
            assert result.started_at < result.finished_at
    assert 0 < len(withdrawn) < len(results)
