"""`paste serve` under concurrent streaming clients: the engine in its own process (the
default) vs on a thread of the server's process (--no-engine-process).

Each mode starts a real `paste serve` (smollm2-135m-instruct, 1 torch thread) as a subprocess
and runs the same load against it from this process: --clients streaming /v1/completions
requests at once (greedy, --max-tokens tokens each, ignore_eos), --rounds times, the rounds
alternating between the two servers (both up, one loaded at a time). With the
engine on a thread, the server's HTTP work (request parsing, one stream pump per client, an
SSE event per token) shares the GIL with the step loop; in its own process it does not.
Reported per mode: the server's decode rate (completion tokens / wall time of a round: best and
median round), and over every stream of every round the time to first token and the gaps between
a stream's tokens as a client sees them (p50 / p99).

Run from the repo root: `python bench/bench_serve_load.py [--clients 8] [--max-tokens 48]
[--rounds 5]`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, rerun_command, write_section  # noqa: E402

MODEL = "smollm2-135m-instruct"
MODES = (("own process", []), ("thread", ["--no-engine-process"]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(flags: list[str], port: int, log: Path,
           threads: int = 1) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "paste.cli", "serve", "--model", MODEL, "--port",
               str(port), "--num-threads", str(threads), "--no-speculation", *flags]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"paste serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("paste serve did not come up in 600 s")


def _stream(url: str, prompt: str, max_tokens: int,
            extra: dict[str, object] | None = None) -> tuple[float, list[float], int]:
    """(time to first token, gaps between later tokens, completion tokens) of one stream
    (`extra`: more request fields)."""
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}, **(extra or {})}
    start = time.perf_counter()
    stamps, tokens = [], 0
    with httpx.stream("POST", url + "/v1/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
            if event.get("choices") and event["choices"][0].get("text"):
                stamps.append(time.perf_counter())
    if not stamps:
        raise RuntimeError("a stream produced no text")
    gaps = [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]
    return stamps[0] - start, gaps, tokens


def _round(url: str, prompts: list[str], max_tokens: int,
           pool: ThreadPoolExecutor) -> tuple[float, list[float], list[float]]:
    """One round: every client streams at once. (tokens / s, TTFTs, token gaps)."""
    start = time.perf_counter()
    results = list(pool.map(lambda p: _stream(url, p, max_tokens), prompts))
    wall = time.perf_counter() - start
    return (sum(r[2] for r in results) / wall, [r[0] for r in results],
            [g for r in results for g in r[1]])


def _summary(rates: list[float], ttfts: list[float], gaps: list[float]) -> dict[str, float]:
    gaps = sorted(gaps)
    return {"tok_s": max(rates), "tok_s_median": statistics.median(rates),
            "ttft_p50": statistics.median(ttfts), "gap_p50": statistics.median(gaps),
            "gap_p99": gaps[int(0.99 * (len(gaps) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    os.environ.setdefault("PASTE_NUM_THREADS", "1")
    prompts = [f"Agent {i}: list the files, then read the one named in the task." for i in
               range(args.clients)]
    servers, urls = [], []
    try:
        for name, flags in MODES:  # both up; one loaded at a time (an idle engine waits)
            port = _free_port()
            servers.append(_start(flags, port, out / f"serve-load-{name.replace(' ', '-')}.log"))
            urls.append(f"http://127.0.0.1:{port}")
            _stream(urls[-1], prompts[0], 4)  # warm
        seen: list[tuple[list[float], list[float], list[float]]] = [([], [], []) for _ in MODES]
        with ThreadPoolExecutor(args.clients) as pool:
            for _ in range(args.rounds):  # rounds alternate between the modes
                for url, (rates, ttfts, gaps) in zip(urls, seen, strict=True):
                    rate, ttft, gap = _round(url, prompts, args.max_tokens, pool)
                    rates.append(rate)
                    ttfts += ttft
                    gaps += gap
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(60)
    rows = []
    for (name, _), got in zip(MODES, (_summary(*s) for s in seen), strict=True):
        rows.append([name, f"{got['tok_s']:.1f}", f"{got['tok_s_median']:.1f}",
                     f"{got['ttft_p50'] * 1000:.0f}", f"{got['gap_p50'] * 1000:.1f}",
                     f"{got['gap_p99'] * 1000:.1f}"])
        print(rows[-1], flush=True)
    body = (
        f"`paste serve --model {MODEL} --num-threads 1 --no-speculation` as a subprocess; "
        f"{args.clients} streaming /v1/completions clients at once (greedy, {args.max_tokens} "
        f"tokens each, ignore_eos), {args.rounds} rounds per mode alternating between the two "
        "servers (both up, one loaded at a time), from the bench's process. Decode rate: "
        "completion tokens / wall time of a round; time to first token and the "
        "gaps between a stream's tokens over every stream of every round. Engine: in its own "
        "process (the default) or on a thread of the server's process "
        "(`--no-engine-process`).\n\n"
        + markdown_table(["engine", "decode tok/s (best round)", "median round", "TTFT p50 ms", "token gap p50 ms",
                          "token gap p99 ms"], rows)
    )
    print(body)
    write_section("bench_serve_load", body,
                  rerun_command("bench_serve_load.py", parser, args))


if __name__ == "__main__":
    main()
