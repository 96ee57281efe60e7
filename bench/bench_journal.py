"""What `paste serve --session-fsync` costs: the time to commit one message to the session
journal (server/session_journal.py) with each write synced to the disk, beside the same
writes flushed only (the default), in the same run on the same folder's disk. One session's
file per rep; messages of a realistic size (an assistant call, a tool result of ~1 KB);
per-commit times are the median and p99 over all writes.

Usage (from the repo root): python bench/bench_journal.py [--messages 200] [--reps 3]
[--folder DIR] (default: a temporary folder; give one on the disk your server would use)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markdown_table, rerun_command, write_section  # noqa: E402

HEADER = {"id": "", "tenant": "bench", "tools": ["read_file"], "system": "Be brief.",
          "max_turns": 32, "max_tokens": 512, "environment": None, "priority": 0,
          "created_at": 0}
CALL = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "call_1", "type": "function",
     "function": {"name": "read_file", "arguments": '{"path": "src/app.py"}'}}]}
RESULT = {"role": "tool", "tool_call_id": "call_1", "name": "read_file",
          "content": "def handler(request):\n    return respond(request)\n" * 20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--folder", default=None)
    args = parser.parse_args()
    base = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="paste-journal-"))
    try:
        times = _measure(base, args.messages, args.reps)
    finally:
        if not args.folder:
            shutil.rmtree(base, ignore_errors=True)
    body = _body(times, args)
    print(body)
    write_section("bench_journal", body, rerun_command("bench_journal.py", parser, args))


def _measure(base: Path, messages: int, reps: int) -> dict[bool, list[float]]:
    """Seconds per append, flushed (False) and synced (True)."""
    from paste.server.session_journal import SessionJournal

    times: dict[bool, list[float]] = {False: [], True: []}
    for rep in range(reps):
        for fsync in (False, True):  # alternating, so drift hits both alike
            journal = SessionJournal(base / f"{'sync' if fsync else 'flush'}", fsync=fsync)
            try:
                session_id = f"bench-{rep}"
                journal.create(dict(HEADER, id=session_id))
                for i in range(messages):
                    start = time.perf_counter()
                    journal.append(session_id, CALL if i % 2 == 0 else RESULT,
                                   raw='{"name": "read_file"}' if i % 2 == 0 else None,
                                   ok=None if i % 2 == 0 else True)
                    times[fsync].append(time.perf_counter() - start)
                journal.delete(session_id)
            finally:
                journal.close()
    return times


def _report(times: dict[bool, list[float]]) -> list[list[str]]:
    rows = []
    for fsync, label in ((False, "flushed (default)"), (True, "--session-fsync")):
        ordered = sorted(times[fsync])
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        rows.append([label, str(len(ordered)), f"{1000 * statistics.median(ordered):.3f}",
                     f"{1000 * p99:.3f}"])
    return rows


def _body(times: dict[bool, list[float]], args: argparse.Namespace) -> str:
    rows = _report(times)
    ratio = statistics.median(times[True]) / statistics.median(times[False])
    return (
        f"One session file per rep, {args.messages} messages each (an assistant call and a "
        f"~1 KB tool result, alternating), {args.reps} reps, the two modes alternating. "
        "The disk is the one under the folder; a server's own disk may sync faster or slower."
        "\n\n" + markdown_table(["journal writes", "commits", "ms per commit, median",
                                 "ms p99"], rows)
        + f"\n\n--session-fsync / flushed, median: {ratio:.1f}x\n"
    )


if __name__ == "__main__":
    main()
