"""paste.tools.lanes: exact slot accounting, FIFO order and authoritative-before-speculative,
on the native DispatchQueue (withdraw, promote, fullness)."""

import pytest

from paste.core import Lane
from paste.errors import InternalError, InvalidArgumentError, QueueFullError
from paste.tools.lanes import ConcurrencyLane


def _submitter(lane: ConcurrencyLane, started: list[str]):
    ids: dict[str, int] = {}

    def submit(tag: str, speculative: bool = False) -> None:
        ids[tag] = lane.new_job_id()
        lane.submit(ids[tag], lambda: started.append(tag), speculative=speculative)

    return ids, submit


def test_slots_queue_and_priority_order():
    lane = ConcurrencyLane(max_concurrency=2)
    started: list[str] = []
    ids, submit = _submitter(lane, started)
    submit("a1")
    submit("a2")
    submit("s1", speculative=True)
    submit("a3")
    submit("s2", speculative=True)
    submit("a4")
    assert started == ["a1", "a2"]
    assert (lane.num_running, lane.num_waiting) == (2, 4)

    lane.release()  # authoritative jobs first, FIFO among them
    assert started == ["a1", "a2", "a3"]
    assert lane.withdraw(ids["a4"]) is True
    assert lane.withdraw(ids["a4"]) is False
    lane.release()
    lane.release()
    assert started == ["a1", "a2", "a3", "s1", "s2"]
    assert (lane.num_running, lane.num_waiting) == (2, 0)
    lane.release()
    lane.release()
    assert (lane.num_running, lane.num_waiting) == (0, 0)
    assert lane.withdraw(ids["a1"]) is False  # started jobs cannot be withdrawn


def test_promote_moves_a_queued_speculative_job_ahead_of_the_speculative_lane():
    lane = ConcurrencyLane(max_concurrency=1)
    started: list[str] = []
    ids, submit = _submitter(lane, started)
    submit("busy")
    submit("s1", speculative=True)
    submit("s2", speculative=True)
    submit("a1")
    assert lane.lane_of(ids["s2"]) == Lane.SPECULATIVE
    assert lane.promote(ids["s2"]) is True
    assert lane.lane_of(ids["s2"]) == Lane.AUTHORITATIVE
    assert lane.promote(ids["s2"]) is False  # already authoritative
    assert lane.promote(ids["a1"]) is False
    assert lane.promote(ids["busy"]) is False  # started
    assert (lane.num_running, lane.num_waiting) == (1, 3)
    for _ in range(3):
        lane.release()
    assert started == ["busy", "a1", "s2", "s1"]  # promoted job joins the authoritative tail
    assert lane.lane_of(ids["s1"]) is None
    lane.release()
    assert (lane.num_running, lane.num_waiting) == (0, 0)


def test_promote_with_a_free_slot_starts_the_job():
    lane = ConcurrencyLane(max_concurrency=1)
    started: list[str] = []
    ids, submit = _submitter(lane, started)
    submit("busy")
    submit("s1", speculative=True)
    assert lane.withdraw(ids["s1"]) is True
    assert lane.promote(ids["s1"]) is False  # withdrawn jobs stay gone
    lane.release()
    assert started == ["busy"]
    assert (lane.num_running, lane.num_waiting) == (0, 0)


def test_full_lane_raises_and_leaves_the_lane_unchanged():
    lane = ConcurrencyLane(max_concurrency=1, max_queued=2)
    assert lane.max_queued == 2
    started: list[str] = []
    ids, submit = _submitter(lane, started)
    submit("busy")
    submit("s1", speculative=True)
    submit("s2", speculative=True)
    with pytest.raises(QueueFullError, match="speculative is full"):
        submit("s3", speculative=True)
    submit("a1")  # the other lane is independent
    assert (lane.num_running, lane.num_waiting) == (1, 3)
    assert lane.withdraw(ids["s3"]) is False
    for _ in range(4):
        lane.release()
    assert started == ["busy", "a1", "s1", "s2"]
    assert (lane.num_running, lane.num_waiting) == (0, 0)


def test_release_without_start_is_an_internal_error():
    lane = ConcurrencyLane(1)
    with pytest.raises(InternalError, match="without a matching start"):
        lane.release()
    assert (lane.num_running, lane.num_waiting) == (0, 0)


@pytest.mark.parametrize(("args", "match"), [((0,), "max_concurrency"), ((1, 0), "max_queued")])
def test_bad_limits_are_rejected(args, match):
    with pytest.raises(InvalidArgumentError, match=match):
        ConcurrencyLane(*args)
