"""`paste patterns split` and `paste patterns eval --json` on the fixture folders."""

import json
from pathlib import Path

from paste.cli import main
from paste.patterns.loaders import load_folder

FIXTURES = Path(__file__).resolve().parent / "data" / "traces_fixtures"

SOURCES = [
    "bfcl-v4-multi-turn",
    "fireact-hotpotqa",
    "mini-swe-agent-gemini3pro-swebv",
    "swe-agent-demos",
    "tau-bench-gpt4o-airline",
    "toolbench-data-example",
]


def test_split_keeps_formats_and_partitions_sessions(tmp_path, capsys):
    assert (
        main(
            [
                "patterns",
                "split",
                "--src",
                str(FIXTURES),
                "--out",
                str(tmp_path),
                "--test-fraction",
                "0.5",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for source in SOURCES + ["paste-jsonl"]:
        full = {t.session_id for t in load_folder(FIXTURES / source).traces}
        train = {t.session_id for t in load_folder(tmp_path / "train" / source).traces}
        test = (
            {t.session_id for t in load_folder(tmp_path / "test" / source).traces}
            if any((tmp_path / "test" / source).rglob("*.*"))
            else set()
        )
        assert train | test == full and not train & test
        if source != "paste-jsonl":  # its split counts the malformed record too
            assert f"{source}: {len(train)} train, {len(test)} test sessions" in printed


def test_eval_json_reports_every_source_with_denominators(capsys):
    dirs = [str(FIXTURES / s) for s in SOURCES]
    assert main(["patterns", "eval", "--train", *dirs, "--test", *dirs, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["sources"]) == SOURCES
    for source in SOURCES:
        row = report["sources"][source]
        calls = sum(len(t.calls) for t in load_folder(FIXTURES / source).traces)
        assert row["calls"] == calls
        for key in (
            "top1_call",
            "top3_call",
            "top5_call",
            "top1_tool",
            "top3_tool",
            "arg_given_tool",
            "baseline_top1_tool",
            "baseline_top1_call",
        ):
            assert 0.0 <= row[key] <= 1.0
        assert row["top1_call"] <= row["top3_call"] <= row["top5_call"]
        assert sum(b["predictions"] for b in row["calibration"]) >= 0
    assert report["overall"]["calls"] == sum(r["calls"] for r in report["sources"].values())
    assert report["sources"]["fireact-hotpotqa"]["top1_tool"] == 1.0
    assert report["issues"] == []


def test_eval_text_table(capsys):
    d = str(FIXTURES / "tau-bench-gpt4o-airline")
    assert main(["patterns", "eval", "--train", d, "--test", d]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["source", "calls", "call@1"]
    assert "tau-bench-gpt4o-airline  8" in out.replace("  8 ", "  8")
