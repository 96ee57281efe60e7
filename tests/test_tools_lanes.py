"""paste.tools.lanes: exact slot accounting, FIFO order and authoritative-before-speculative."""

import pytest

from paste.errors import InvalidArgumentError
from paste.tools.lanes import ConcurrencyLane


def test_slots_queue_and_priority_order():
    lane = ConcurrencyLane(max_concurrency=2)
    started: list[str] = []

    def job(tag: str):
        return lambda: started.append(tag)

    jobs = {tag: job(tag) for tag in ["a1", "a2", "s1", "a3", "s2", "a4"]}
    lane.submit(jobs["a1"])
    lane.submit(jobs["a2"])
    lane.submit(jobs["s1"], speculative=True)
    lane.submit(jobs["a3"])
    lane.submit(jobs["s2"], speculative=True)
    lane.submit(jobs["a4"])
    assert started == ["a1", "a2"]
    assert (lane.num_running, lane.num_waiting) == (2, 4)

    lane.release()  # authoritative jobs first, FIFO among them
    assert started == ["a1", "a2", "a3"]
    assert lane.withdraw(jobs["a4"]) is True
    assert lane.withdraw(jobs["a4"]) is False
    lane.release()
    lane.release()
    assert started == ["a1", "a2", "a3", "s1", "s2"]
    assert (lane.num_running, lane.num_waiting) == (2, 0)
    lane.release()
    lane.release()
    assert (lane.num_running, lane.num_waiting) == (0, 0)


def test_bad_limit_is_rejected():
    with pytest.raises(InvalidArgumentError):
        ConcurrencyLane(0)
