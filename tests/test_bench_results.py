"""bench/_results.py: the command line a bench section names is the one that reruns it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from _results import rerun_command  # noqa: E402


def test_the_rerun_command_names_only_the_options_not_at_their_default():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--batch-tokens", type=int, default=64)
    assert rerun_command("bench_x.py", parser, parser.parse_args([])) == "python bench/bench_x.py"
    args = parser.parse_args(["--batch-tokens", "8", "--window", "2.50", "--reps", "3"])
    assert rerun_command("bench_x.py", parser, args) == (
        "python bench/bench_x.py --window 2.5 --batch-tokens 8")
