"""DispatchQueue vs Python's queue.Queue, driven from Python threads as the tool workers do.

Two runs per queue and thread count (1 and 4 producer/consumer pairs):
  saturated  producers push as fast as they can into a bounded queue: ops/s (jobs through);
  paced      each producer pushes one job every ~0.2 ms: enqueue -> dequeue latency p50/p99.
paste pushes alternate between the two lanes; queue.Queue has one. Consumers take up to 16 jobs
per wake-up (paste: pop_batch; queue.Queue: get + get_nowait). Both sides pay the same Python
thread and GIL costs, which dominate; the numbers compare the queues as Python sees them.

Usage (from the repo root): python bench/bench_dispatch.py [--jobs N]
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, write_section  # noqa: E402
from paste.core import DispatchQueue, Lane  # noqa: E402

CAPACITY = 1024
BATCH = 16
LANES = (Lane.AUTHORITATIVE, Lane.SPECULATIVE)


class PasteAdapter:
    name = "paste DispatchQueue"

    def __init__(self) -> None:
        self.q = DispatchQueue(CAPACITY)

    def put(self, job_id: int) -> None:
        while not self.q.try_push(job_id, LANES[job_id & 1]):
            time.sleep(0)  # full: yield the GIL to the consumers

    def get_batch(self) -> list[int] | None:
        ids, _ = self.q.pop_batch(BATCH, 1.0)
        if len(ids):
            return ids.tolist()
        return None if self.q.closed else []

    def finish(self, num_consumers: int) -> None:
        self.q.close()


class StdlibAdapter:
    name = "queue.Queue"

    def __init__(self) -> None:
        self.q: queue.Queue[int | None] = queue.Queue(maxsize=2 * CAPACITY)

    def put(self, job_id: int) -> None:
        self.q.put(job_id)

    def get_batch(self) -> list[int] | None:
        try:
            first = self.q.get(timeout=1.0)
        except queue.Empty:
            return []
        if first is None:
            return None
        out = [first]
        while len(out) < BATCH:
            try:
                item = self.q.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self.q.put(None)  # leave the sentinel for its consumer
                break
            out.append(item)
        return out

    def finish(self, num_consumers: int) -> None:
        for _ in range(num_consumers):
            self.q.put(None)


def run(adapter_cls, num_threads: int, jobs_per_producer: int, pace_s: float):
    """Returns (seconds, latencies_ns) for num_threads producers and consumers."""
    adapter = adapter_cls()
    total = num_threads * jobs_per_producer
    enqueued = np.zeros(total, dtype=np.int64)
    dequeued = np.zeros(total, dtype=np.int64)
    clock = time.perf_counter_ns

    def producer(p: int) -> None:
        for i in range(jobs_per_producer):
            job_id = p * jobs_per_producer + i
            enqueued[job_id] = clock()
            adapter.put(job_id)
            if pace_s:
                time.sleep(pace_s)

    def consumer() -> None:
        while True:
            got = adapter.get_batch()
            if got is None:
                return
            now = clock()
            for job_id in got:
                dequeued[job_id] = now

    producers = [threading.Thread(target=producer, args=(p,)) for p in range(num_threads)]
    consumers = [threading.Thread(target=consumer) for _ in range(num_threads)]
    t0 = time.perf_counter()
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join()
    adapter.finish(num_threads)
    for t in consumers:
        t.join()
    seconds = time.perf_counter() - t0
    assert (dequeued > 0).all(), "a job was lost"
    return seconds, dequeued - enqueued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50000, help="jobs per producer (saturated)")
    parser.add_argument("--paced-jobs", type=int, default=2000, help="jobs per producer (paced)")
    args = parser.parse_args()

    rows = []
    for num_threads in (1, 4):
        for adapter_cls in (PasteAdapter, StdlibAdapter):
            seconds, _ = run(adapter_cls, num_threads, args.jobs, pace_s=0.0)
            ops = num_threads * args.jobs / seconds
            _, lat = run(adapter_cls, num_threads, args.paced_jobs, pace_s=0.0002)
            p50, p99 = np.percentile(lat, [50, 99]) / 1000.0
            rows.append(
                [
                    adapter_cls.name,
                    f"{num_threads}/{num_threads}",
                    f"{ops:,.0f}",
                    f"{p50:.1f}",
                    f"{p99:.1f}",
                ]
            )
            print(
                f"{adapter_cls.name:20s} threads={num_threads}: {ops:12,.0f} jobs/s  "
                f"p50 {p50:7.1f} us  p99 {p99:7.1f} us",
                flush=True,
            )

    body = (
        f"Jobs pushed and popped by Python threads (producers/consumers), capacity {CAPACITY}, "
        f"batches of up to {BATCH}. jobs/s: saturated run, {args.jobs} jobs per producer. "
        f"Latency: enqueue -> dequeue in a paced run ({args.paced_jobs} jobs per producer, one "
        "every ~0.2 ms). Python thread and GIL costs dominate both columns.\n\n"
        + markdown_table(
            ["queue", "producers/consumers", "jobs/s", "p50 latency (us)", "p99 latency (us)"],
            rows,
        )
    )
    write_section("bench_dispatch", body, "python bench/bench_dispatch.py")


if __name__ == "__main__":
    main()
