"""Pattern store files: version 2 (each template key once, written a table entry at a time) vs
version 1 (every table key spelled out, one json.dumps call), on stores mined from seeded
samples of ../shared/traces, side by side in one run.

Per store: the file's size; load time; save time and the longest stall a second thread sees
while the store is saved (a thread that sleeps 1 ms in a loop: the GIL held by one long C
call shows as its longest wake-up delay; a server's engine loop and HTTP handlers are such
threads); and a full garbage collection with the loaded store, as it is and after gc.freeze()
(what `paste serve` does once its stores and model are loaded). Medians of --reps runs.

Usage (from the repo root): python bench/bench_storefile.py [--reps 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, write_section  # noqa: E402
from _traces import DEFAULT_TRACES, seeded_sources  # noqa: E402
from paste.patterns.mining import mine  # noqa: E402
from paste.patterns.store import PatternStore  # noqa: E402
from paste.patterns.storefile import to_data  # noqa: E402

DEFAULT_SOURCES = "mini-swe-agent-gemini3pro-swebv:40,tau-bench-gpt4o-airline:60"


def _stall(work: Callable[[], None]) -> tuple[float, float]:
    """(seconds `work` took, longest wake-up delay in ms of a thread sleeping 1 ms at a time
    meanwhile)."""
    delays: list[float] = []
    done = threading.Event()

    def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            time.sleep(0.001)
            delays.append(time.perf_counter() - start - 0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    time.sleep(0.05)
    start = time.perf_counter()
    work()
    took = time.perf_counter() - start
    time.sleep(0.02)
    done.set()
    thread.join()
    return took, 1000 * max(delays)


def _full_collection_ms() -> float:
    start = time.perf_counter()
    gc.collect(2)
    return 1000 * (time.perf_counter() - start)


def _measure(store: PatternStore, folder: Path, reps: int) -> dict[str, dict[str, float]]:
    v1, v2 = folder / "v1.json", folder / "v2.json"

    def save_v1() -> None:  # the version-1 writer: one json.dumps of the whole object
        v1.write_text(json.dumps(to_data(store, version=1)), encoding="utf-8")

    def save_v2() -> None:
        store.save(v2)

    out: dict[str, dict[str, list[float]]] = {"1": {}, "2": {}}
    for _ in range(reps):
        for version, save, path in (("1", save_v1, v1), ("2", save_v2, v2)):
            row = out[version]
            took, stall = _stall(save)
            row.setdefault("save_s", []).append(took)
            row.setdefault("stall_ms", []).append(stall)
            start = time.perf_counter()
            loaded = PatternStore.load(path)
            row.setdefault("load_s", []).append(time.perf_counter() - start)
            row.setdefault("gc_ms", []).append(_full_collection_ms())
            gc.freeze()
            row.setdefault("gc_frozen_ms", []).append(_full_collection_ms())
            gc.unfreeze()
            del loaded
            row["mb"] = [path.stat().st_size / 1e6]
    return {v: {k: statistics.median(x) for k, x in row.items()} for v, row in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--sources", default=DEFAULT_SOURCES,
                        help="source:sessions,... (a seeded sample of each source's sessions)")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for source, count, traces in seeded_sources(args.traces, args.sources, args.seed):
        sample = traces[:count]
        started = time.perf_counter()
        store = mine(sample)
        mined = time.perf_counter() - started
        gc.collect()
        with tempfile.TemporaryDirectory() as tmp:
            got = _measure(store, Path(tmp), args.reps)
        one, two = got["1"], got["2"]
        print(f"{source}: {len(sample)} sessions mined in {mined:.0f} s; "
              f"v1 {one} v2 {two}", flush=True)
        rows.append([
            f"{source} ({len(sample)} sessions)",
            f"{one['mb']:.1f} / {two['mb']:.1f}",
            f"{one['load_s']:.2f} / {two['load_s']:.2f}",
            f"{one['save_s']:.2f} / {two['save_s']:.2f}",
            f"{one['stall_ms']:.0f} / {two['stall_ms']:.0f}",
            f"{two['gc_ms']:.0f} / {two['gc_frozen_ms']:.0f}",
        ])
    body = (
        f"Stores mined on a seeded sample (seed {args.seed}) of each source's sessions; "
        f"version 1 / version 2 side by side, medians of {args.reps} runs. Stall: the longest "
        "wake-up delay of a thread sleeping 1 ms at a time while the store is saved (what a "
        "server's other threads wait). Full GC: gc.collect(2) with the loaded store, as "
        "loaded / after gc.freeze().\n\n"
        + markdown_table(
            ["store", "file MB v1 / v2", "load s v1 / v2", "save s v1 / v2",
             "longest stall ms v1 / v2", "full GC ms / frozen"],
            rows,
        )
    )
    print(body)
    command = "python bench/bench_storefile.py"
    if args.reps != 5 or args.seed != 0:
        command += f" --reps {args.reps} --seed {args.seed}"
    write_section("bench_storefile", body, command)


if __name__ == "__main__":
    main()
