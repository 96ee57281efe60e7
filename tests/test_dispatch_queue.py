"""DispatchQueue through the bindings: exact pop order (authoritative lane first, FIFO per lane),
cancel and promote, fullness and its typed error, blocking pops from Python threads (GIL
released), and a small multi-threaded no-loss/no-duplicate check."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import paste.errors
from paste.core import DispatchQueue, Lane
from paste.errors import InvalidArgumentError, PasteError

AUTH, SPEC = Lane.AUTHORITATIVE, Lane.SPECULATIVE
# paste.errors.QueueFullError (PasteError, RuntimeError) is requested from the lead; until it
# lands the bindings raise its base class.
QueueFullError = getattr(paste.errors, "QueueFullError", PasteError)


def pop_all(q: DispatchQueue, max_jobs: int = 1000) -> list[tuple[int, int]]:
    ids, lanes = q.try_pop_batch(max_jobs)
    assert ids.dtype == np.int64 and lanes.dtype == np.int8
    return list(zip(ids.tolist(), lanes.tolist(), strict=True))


def test_authoritative_lane_first_and_fifo_per_lane():
    q = DispatchQueue(8)
    for job_id, lane in [(10, SPEC), (1, AUTH), (11, SPEC), (2, AUTH)]:
        assert q.try_push(job_id, lane)
    assert q.num_queued(AUTH) == 2 and q.num_queued(SPEC) == 2
    assert pop_all(q) == [(1, 0), (2, 0), (10, 1), (11, 1)]
    assert pop_all(q) == []


def test_try_pop_takes_one_job_authoritative_first():
    q = DispatchQueue(8)
    for job_id in (5, 6, 7):
        q.push(job_id, SPEC)
    q.push(1, AUTH)
    assert q.cancel(5) and q.promote(7)
    popped = []
    while (job := q.try_pop()) is not None:
        popped.append(job)
    assert popped == [(1, AUTH), (7, AUTH), (6, SPEC)]
    assert q.try_pop() is None
    assert q.num_queued(AUTH) == 0 and q.num_queued(SPEC) == 0


def test_batch_size_is_respected():
    q = DispatchQueue(8)
    for job_id in (5, 6, 7):
        q.push(job_id, SPEC)
    q.push(1, AUTH)
    assert pop_all(q, 2) == [(1, 0), (5, 1)]
    assert pop_all(q, 2) == [(6, 1), (7, 1)]


def test_cancel_and_promote():
    q = DispatchQueue(8)
    for job_id in (1, 2, 3, 4):
        q.push(job_id, SPEC)
    q.push(9, AUTH)
    assert q.cancel(3)
    assert not q.cancel(3)
    assert q.promote(2)
    assert not q.promote(2)
    assert not q.promote(9)
    assert q.lane_of(2) == 0 and q.lane_of(3) == -1 and q.lane_of(4) == 1
    assert pop_all(q) == [(9, 0), (2, 0), (1, 1), (4, 1)]
    assert not q.cancel(1)  # already popped


def test_full_lane_and_typed_errors():
    q = DispatchQueue(2)
    assert q.capacity == 2
    assert q.try_push(1, AUTH) and q.try_push(2, AUTH)
    assert not q.try_push(3, AUTH)
    with pytest.raises(QueueFullError, match="full"):
        q.push(3, AUTH)
    assert q.try_push(3, SPEC)  # the other lane is independent
    with pytest.raises(InvalidArgumentError):
        q.push(-5, AUTH)
    with pytest.raises(InvalidArgumentError, match="already queued"):
        q.push(3, AUTH)
    with pytest.raises(InvalidArgumentError):
        DispatchQueue(0)
    assert pop_all(q) == [(1, 0), (2, 0), (3, 1)]


def test_blocking_pop_releases_the_gil_and_close_wakes_sleepers():
    q = DispatchQueue(4)
    got: list[list[int]] = []

    def worker() -> None:
        ids, _ = q.pop_batch(4, 30.0)
        got.append(ids.tolist())

    t = threading.Thread(target=worker)
    t.start()
    # If pop_batch held the GIL this push could not run before the worker's timeout.
    threading.Event().wait(0.05)
    q.push(42, SPEC)
    t.join()
    assert got == [[42]]

    t = threading.Thread(target=worker)
    t.start()
    threading.Event().wait(0.05)
    q.close()
    t.join()
    assert got[-1] == [] and q.closed
    ids, _ = q.pop_batch(4, 0.0)
    assert ids.tolist() == []


def test_threads_lose_nothing_and_duplicate_nothing():
    q = DispatchQueue(256)
    n_producers, per_producer = 3, 2000
    done = threading.Event()
    popped: list[int] = []
    lock = threading.Lock()

    def producer(p: int) -> None:
        for i in range(per_producer):
            while not q.try_push(p * 100_000 + i, AUTH if i % 2 else SPEC):
                time.sleep(0.0005)  # full: let the consumers take the GIL

    def consumer() -> None:
        while True:
            finished = done.is_set()
            ids, _ = q.pop_batch(64, 0.01)
            if len(ids):
                with lock:
                    popped.extend(ids.tolist())
            elif finished:
                return

    producers = [threading.Thread(target=producer, args=(p,)) for p in range(n_producers)]
    consumers = [threading.Thread(target=consumer) for _ in range(2)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    done.set()
    for t in consumers:
        t.join()
    expected = sorted(p * 100_000 + i for p in range(n_producers) for i in range(per_producer))
    assert sorted(popped) == expected
