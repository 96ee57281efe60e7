"""Throughput and linearity of the streaming tool-call parsers (paste.parsing).

For each format, model output is fed in per-token deltas of 4 characters, the way the engine
feeds decoded text, and the whole stream (every feed, close, finish) is timed. Two shapes:
"many calls" repeats prose + a typical call up to the target size; "one call" is a single
call whose argument string fills the whole size (the parser holds it back until it closes,
so any re-scan of held text would show up as quadratic time). Time per byte at 1 KB, 10 KB,
100 KB and 1 MB must stay flat. The one-shot column feeds the whole text at once (no per-delta
overhead) as the baseline beside streaming. Times are CPU seconds of this process (the
machine is shared); each measurement streams at least 50 KB (small texts are repeated) and
the best of 3 measurements (one at 1 MB) is kept, since noise from other processes only adds.
Every streamed result is checked against the one-shot parse.

    python bench/bench_parsing.py            (from the project root; writes bench/RESULTS.md)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

_BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(_BENCH_DIR))
try:
    import paste  # noqa: F401
except ImportError:  # not installed: use the source tree beside this script
    sys.path.insert(0, str(_BENCH_DIR.parent / "python"))

from _results import markdown_table, write_section  # noqa: E402
from paste.parsing import ParsedOutput, StreamingToolCallParser, parse_tool_calls  # noqa: E402

FORMATS = ["hermes", "json", "llama3_json", "pythonic"]
SIZES = [1_000, 10_000, 100_000, 1_000_000]
DELTA = 4  # characters per delta, about one token
WORK = 50_000  # bytes streamed per measurement at least (small texts are repeated)
PROSE = "Let me look that up, then I will summarise what I find for you.\n"
ARGS = {
    "query": 'James Webb "deep field" {2024} </tool_call> images',
    "max_results": 5,
    "filters": {"lang": "en", "safe": True, "sites": ["nasa.gov", "esa.int"]},
}


def _call_text(fmt: str, name: str, args: dict) -> str:
    if fmt == "hermes":
        return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>\n"
    if fmt == "json":
        return "```json\n" + json.dumps({"name": name, "arguments": args}) + "\n```\n"
    if fmt == "llama3_json":
        return json.dumps({"name": name, "parameters": args}) + ";\n"
    kwargs = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"[{name}({kwargs})]\n"


def many_calls(fmt: str, size: int) -> str:
    unit = PROSE + _call_text(fmt, "search", ARGS)
    return unit * max(1, size // len(unit))


def one_call(fmt: str, size: int) -> str:
    frame = len(_call_text(fmt, "write", {"text": ""}))
    filler = ('abc {x} [y] \\"q\\" ' * (size // 18 + 1))[: max(0, size - frame)]
    return _call_text(fmt, "write", {"text": filler})


def stream_seconds(text: str, fmt: str, expected: ParsedOutput, runs: int = 1) -> float:
    """CPU seconds per run of streaming `text` in DELTA-sized pieces through fresh parsers.

    CPU time (not wall time) because the benchmark machine is shared; every run's result is
    compared with `expected`, the one-shot parse.
    """
    pieces = [text[i : i + DELTA] for i in range(0, len(text), DELTA)]
    finals = []
    start = time.process_time()
    for _ in range(runs):
        parser = StreamingToolCallParser(format=fmt)
        for piece in pieces:
            parser.feed(piece)
        parser.close()
        finals.append(parser.finish())
    seconds = (time.process_time() - start) / runs
    if any(final != expected for final in finals):
        raise RuntimeError(f"{fmt}: streamed result differs from one-shot")
    return seconds


def one_shot(text: str, fmt: str) -> tuple[float, int]:
    """(CPU seconds of one `parse_tool_calls` of the whole text, number of calls found)."""
    start = time.process_time()
    out = parse_tool_calls(text, format=fmt)
    return time.process_time() - start, len(out.calls)


def ns_per_byte(text: str, fmt: str) -> float:
    """Best of 3 measurements (1 for texts of 1 MB or more), each streaming >= WORK bytes."""
    expected = parse_tool_calls(text, format=fmt)
    if not expected.calls or expected.errors:
        raise RuntimeError(f"{fmt}: benchmark text does not parse cleanly: {expected.errors}")
    runs = max(1, WORK // len(text))
    rounds = 1 if len(text) >= 1_000_000 else 3
    best = min(stream_seconds(text, fmt, expected, runs) for _ in range(rounds))
    return best / len(text) * 1e9


def _label(size: int) -> str:
    return f"{size // 1_000_000} MB" if size >= 1_000_000 else f"{size // 1000} KB"


def main() -> None:
    shapes: dict[str, Callable[[str, int], str]] = {"many calls": many_calls, "one call": one_call}
    scaling_rows, rate_rows = [], []
    for fmt in FORMATS:
        for shape, make in shapes.items():
            per_byte = []
            for size in SIZES:
                text = make(fmt, size)
                per_byte.append(ns_per_byte(text, fmt))
            flat = per_byte[-1] / per_byte[0]
            scaling_rows.append([fmt, shape, *(f"{ns:.0f}" for ns in per_byte), f"{flat:.2f}"])
            print(f"{fmt:12s} {shape:10s} ns/byte " + " ".join(f"{ns:6.0f}" for ns in per_byte))
            if shape == "many calls":  # the 1 MB measurement doubles as the throughput figure
                text = make(fmt, SIZES[-1])
                streamed = 1e3 / per_byte[-1]
                seconds, calls = one_shot(text, fmt)
                whole = len(text) / seconds / 1e6
                rate_rows.append(
                    [fmt, f"{len(text) / 1e6:.2f}", calls, f"{streamed:.2f}", f"{whole:.2f}"]
                )
                print(f"{fmt:12s} streaming {streamed:.2f} MB/s, one-shot {whole:.2f} MB/s")

    rates = markdown_table(
        ["format", "MB", "calls", f"streaming MB/s ({DELTA}-char deltas)", "one-shot MB/s"],
        rate_rows,
    )
    scaling = markdown_table(
        ["format", "shape", *(f"ns/byte {_label(s)}" for s in SIZES), "1 MB / 1 KB"],
        scaling_rows,
    )
    body = (
        "Throughput on the many-calls text (prose + one call per ~300 bytes):\n\n"
        f"{rates}\n\n"
        f"Streaming CPU time per byte by text size ({DELTA}-char deltas; flat = linear; "
        "'one call' is a single call whose argument fills the text):\n\n"
        f"{scaling}\n"
    )
    write_section("bench_parsing", body, "python bench/bench_parsing.py")
    print(f"wrote section bench_parsing of {_BENCH_DIR / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
