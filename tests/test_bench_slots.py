"""BatchSlots (the SimulatedEngine's batch capacity): exact grant order by priority then
arrival, abort while waiting, unlimited capacity, bad capacity."""

from __future__ import annotations

import threading
import time

import pytest

from paste.bench.batch_slots import BatchSlots
from paste.errors import InvalidArgumentError


def _waiter(slots, priority, order, abort=None):
    def run():
        if slots.acquire(priority, abort or threading.Event()):
            order.append(priority)
    t = threading.Thread(target=run)
    t.start()
    return t


def _until(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_freed_slot_goes_to_the_highest_priority_then_the_earliest():
    slots = BatchSlots(1)
    assert slots.acquire(0.0, threading.Event())  # the batch is now full
    order: list[float] = []
    threads = []
    for i, p in enumerate([0.0, 5.0, 1.0, 5.0]):
        threads.append(_waiter(slots, p, order))
        _until(lambda n=i + 1: slots.max_waiting == n)
    for expected in ([5.0], [5.0, 5.0], [5.0, 5.0, 1.0], [5.0, 5.0, 1.0, 0.0]):
        slots.release()
        _until(lambda e=expected: order == e)
        assert slots.num_running == 1  # the slot passed on, never freed in between
    slots.release()
    assert slots.num_running == 0
    for t in threads:
        t.join(5)


def test_abort_while_waiting_leaves_the_queue():
    slots = BatchSlots(1)
    assert slots.acquire(0.0, threading.Event())
    abort, order = threading.Event(), []
    t = _waiter(slots, 9.0, order, abort)
    _until(lambda: slots.max_waiting == 1)
    abort.set()
    t.join(5)
    slots.release()  # nobody waits any more: the slot is free
    assert (order, slots.num_running) == ([], 0)


def test_unlimited_capacity_never_blocks():
    slots = BatchSlots(None)
    assert all(slots.acquire(0.0, threading.Event()) for _ in range(100))
    assert slots.max_waiting == 0


@pytest.mark.parametrize("capacity", [0, -3])
def test_bad_capacity_is_refused(capacity):
    with pytest.raises(InvalidArgumentError, match="batch capacity"):
        BatchSlots(capacity)
