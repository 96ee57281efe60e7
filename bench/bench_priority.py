"""Request priority classes under load (vLLM's request `priority`, lower runs first):
interactive requests arriving behind a queue of batch requests.

A real `paste serve` (smollm2-135m-instruct, 2 torch threads, --max-num-seqs 4) as a
subprocess. Each round: --batch streaming /v1/completions requests of --batch-tokens tokens at
once (so --batch minus 4 of them wait for a slot), then, --delay s later, --interactive
requests of 8 tokens. Mode "classes": batch requests send priority 1, interactive ones -1;
mode "no classes": every request priority 0 (first come, first served). Rounds alternate
between the modes on the same server. Reported per mode over every round: the interactive
requests' time to first token and to their last token (median, max), and the batch rounds'
decode rate (what the classes cost the batch).

Run from the repo root: `python bench/bench_priority.py [--rounds 3] [--batch 8]
[--batch-tokens 64] [--interactive 2] [--delay 0.5]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, rerun_command, write_section  # noqa: E402
from bench_serve_load import MODEL, _free_port, _start, _stream  # noqa: E402

MODES = (("classes", 1, -1), ("no classes", 0, 0))  # (name, batch priority, interactive)
INTERACTIVE_TOKENS = 8


def _round(url: str, args: argparse.Namespace, batch_priority: int, interactive_priority: int,
           pool: ThreadPoolExecutor) -> tuple[list[tuple[float, float]], float]:
    """((TTFT, latency) of each interactive request, batch tokens / s)."""
    start = time.perf_counter()
    batch = [pool.submit(_stream, url, f"Batch job {i}: summarise the log.", args.batch_tokens,
                         {"priority": batch_priority}) for i in range(args.batch)]
    time.sleep(args.delay)

    def interactive(i: int) -> tuple[float, float]:
        sent = time.perf_counter()
        ttft, _gaps, _n = _stream(url, f"User {i}: what time is it?", INTERACTIVE_TOKENS,
                                  {"priority": interactive_priority})
        return ttft, time.perf_counter() - sent

    users = [pool.submit(interactive, i) for i in range(args.interactive)]
    seen = [u.result() for u in users]
    tokens = sum(b.result()[2] for b in batch)
    return seen, tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batch-tokens", type=int, default=64)
    parser.add_argument("--interactive", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.5)
    args = parser.parse_args()
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    port = _free_port()
    server = _start(["--max-num-seqs", "4"], port, out / "priority.log", threads=2)
    url = f"http://127.0.0.1:{port}"
    seen: dict[str, tuple[list[tuple[float, float]], list[float]]] = {
        name: ([], []) for name, _, _ in MODES}
    try:
        _stream(url, "warm", 4)
        with ThreadPoolExecutor(args.batch + args.interactive) as pool:
            for _ in range(args.rounds):
                for name, batch_priority, interactive_priority in MODES:
                    users, rate = _round(url, args, batch_priority, interactive_priority, pool)
                    seen[name][0].extend(users)
                    seen[name][1].append(rate)
                    print(name, [f"{t:.2f}/{lat:.2f}" for t, lat in users], f"{rate:.1f}",
                          flush=True)
    finally:
        server.terminate()
        server.wait(60)
    rows = []
    for name, _, _ in MODES:
        users, rates = seen[name]
        ttfts, lats = [u[0] for u in users], [u[1] for u in users]
        rows.append([name, f"{statistics.median(ttfts):.2f}", f"{max(ttfts):.2f}",
                     f"{statistics.median(lats):.2f}", f"{max(lats):.2f}",
                     f"{statistics.median(rates):.1f}"])
    body = (
        f"`paste serve --model {MODEL} --num-threads 2 --max-num-seqs 4 --no-speculation`; "
        f"each round {args.batch} streaming batch requests of {args.batch_tokens} tokens at "
        f"once, then {args.delay:g} s later {args.interactive} interactive requests of "
        f"{INTERACTIVE_TOKENS} tokens; {args.rounds} rounds per mode, alternating. classes: "
        "batch `priority` 1, interactive -1; no classes: all 0 (first come, first served). "
        "Times in seconds from each interactive request's submission; batch decode rate: "
        "batch tokens / the round's wall time.\n\n"
        + markdown_table(["mode", "interactive TTFT median", "TTFT max", "latency median",
                          "latency max", "batch tok/s median round"], rows)
    )
    print(body)
    write_section("bench_priority", body, rerun_command("bench_priority.py", parser, args))


if __name__ == "__main__":
    main()
