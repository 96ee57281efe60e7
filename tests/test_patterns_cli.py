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


def test_split_at_an_extreme_fraction_leaves_no_side_empty(tmp_path, capsys):
    # 0.99 (0.01) would put every group of these small sources in test (train): the group
    # nearest the threshold crosses over, so each side of a source of 2+ groups has sessions
    for fraction in ("0.99", "0.01"):
        out = tmp_path / fraction
        assert main(["patterns", "split", "--src", str(FIXTURES), "--out", str(out),
                     "--test-fraction", fraction, "--seed", "3"]) == 0
        for source in SOURCES:
            full = load_folder(FIXTURES / source).traces
            groups = {t.group for t in full}
            train = load_folder(out / "train" / source).traces
            test = load_folder(out / "test" / source).traces
            assert len(train) + len(test) == len(full)
            if len(groups) >= 2:
                assert train and test, (fraction, source)
                assert not {t.group for t in train} & {t.group for t in test}
            big = test if fraction == "0.99" else train
            assert len({t.group for t in big}) == max(1, len(groups) - 1), (fraction, source)
    capsys.readouterr()


def test_test_groups_moves_the_group_nearest_the_threshold():
    from paste.patterns.split import _test_groups

    assert _test_groups({"a": 0.2, "b": 0.7, "c": 0.4}, 0.5) == {"a", "c"}  # as hashed
    assert _test_groups({"a": 0.2, "b": 0.7, "c": 0.4}, 0.1) == {"a"}  # none: the lowest
    assert _test_groups({"a": 0.2, "b": 0.7, "c": 0.4}, 0.9) == {"a", "c"}  # all: b stays out
    assert _test_groups({"a": 0.95}, 0.5) == set()  # one group: as hashed
    assert _test_groups({"a": 0.05}, 0.5) == {"a"}
    assert _test_groups({}, 0.5) == set()


def test_eval_json_reports_every_source_with_denominators(capsys):
    dirs = [str(FIXTURES / s) for s in SOURCES]
    assert main(["patterns", "eval", "--train", *dirs, "--test", *dirs, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["sources"]) == SOURCES
    for source in SOURCES:
        row = report["sources"][source]
        traces = load_folder(FIXTURES / source).traces
        assert row["calls"] == sum(len(t.calls) for t in traces)
        assert row["train_overlap_sessions"] == len(traces)  # --train is --test here
        assert row["train_sessions"] == len(traces)
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


def test_eval_of_a_collection_folder_equals_eval_of_its_sources(tmp_path, capsys):
    # The fixture root and a split's train/ and test/ hold one folder per source; before,
    # SWE-agent's any-depth `.traj` search claimed the whole root and five sources vanished.
    main(["patterns", "split", "--src", str(FIXTURES), "--out", str(tmp_path), "--seed", "1"])
    capsys.readouterr()
    train, test = tmp_path / "train", tmp_path / "test"
    assert main(["patterns", "eval", "--train", str(train), "--test", str(test), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    tested = [d for d in sorted(test.iterdir()) if any(d.rglob("*.*"))]
    by_source = [str(d) for d in sorted(train.iterdir())]
    assert main(["patterns", "eval", "--train", *by_source,
                 "--test", *map(str, tested), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == whole
    assert len(whole["sources"]) == len(tested) >= 3
    assert whole["overall"]["train_overlap_sessions"] == 0  # a split is disjoint


def test_eval_warns_when_test_sessions_are_training_sessions(capsys):
    d = str(FIXTURES / "tau-bench-gpt4o-airline")
    assert main(["patterns", "eval", "--train", d, "--test", d, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["overall"]["train_overlap_sessions"] == 4
    assert captured.err == ("warning: 4 test sessions are also training sessions: these numbers "
                            "are not held-out (paste patterns split makes disjoint folders)\n")


def test_eval_warns_about_a_test_source_without_training_sessions(capsys):
    bfcl, fireact = (str(FIXTURES / s) for s in ("bfcl-v4-multi-turn", "fireact-hotpotqa"))
    assert main(["patterns", "eval", "--train", bfcl, "--test", fireact, "--json"]) == 0
    captured = capsys.readouterr()
    row = json.loads(captured.out)["sources"]["fireact-hotpotqa"]
    assert (row["train_sessions"], row["calls"], row["hits"]["top1_tool"]) == (0, 8, 0)
    assert captured.err == ("warning: fireact-hotpotqa: no training sessions of this source "
                            "(no --train folder of it, or an empty one): its calls are "
                            "predicted from nothing\n")


def test_eval_text_table(capsys):
    d = str(FIXTURES / "tau-bench-gpt4o-airline")
    assert main(["patterns", "eval", "--train", d, "--test", d]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["source", "calls", "call@1"]
    assert "tau-bench-gpt4o-airline  8" in out.replace("  8 ", "  8")


def _fails(argv, capsys):
    """(exit code, stderr) of a `paste patterns` run expected to fail without a traceback."""
    code = main(argv)
    captured = capsys.readouterr()
    assert captured.out == ""
    return code, captured.err


def test_eval_of_a_missing_folder_is_one_error_line(tmp_path, capsys):
    d = str(FIXTURES / "tau-bench-gpt4o-airline")
    missing = str(tmp_path / "nope")
    assert _fails(["patterns", "eval", "--train", missing, "--test", d], capsys) == (
        2, f"error: {missing}: not a directory\n")
    assert _fails(["patterns", "eval", "--train", d, "--test", str(tmp_path)], capsys) == (
        2, f"error: {tmp_path}: no known trace source layout in it or its sub-folders\n")


def test_split_with_a_bad_fraction_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _fails(["patterns", "split", "--src", str(FIXTURES), "--out", str(out),
                        "--test-fraction", "1.5"], capsys)
    assert (code, err) == (2, "error: test fraction must be in (0, 1), got 1.5\n")
    assert not out.exists()


def test_mine_checks_its_output_folder_before_mining(tmp_path, capsys):
    d = str(FIXTURES / "tau-bench-gpt4o-airline")
    out = tmp_path / "missing" / "store.json"
    assert _fails(["patterns", "mine", "--train", d, "--out", str(out)], capsys) == (
        2, f"error: --out {out}: folder {out.parent} does not exist\n")
    code, err = _fails(["patterns", "mine", "--train", d, "--out", str(tmp_path)], capsys)
    assert code == 1 and err.startswith(f"error: cannot write {tmp_path}: ")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_mine_writes_a_store_that_loads(tmp_path, capsys):
    from paste.patterns.store import PatternStore

    d = str(FIXTURES / "tau-bench-gpt4o-airline")
    out = tmp_path / "store.json"
    assert main(["patterns", "mine", "--train", d, "--out", str(out), "--tenant", "t1"]) == 0
    n = len(load_folder(FIXTURES / "tau-bench-gpt4o-airline").traces)
    assert capsys.readouterr().out == f"mined {n} sessions into {out}\n"
    store = PatternStore.load(out)
    assert (store.tenant, store.num_sessions) == ("t1", n)


def test_leave_one_out_holds_out_each_task_group_once(capsys):
    from paste.patterns.evaluate import evaluate_source

    d = FIXTURES / "toolbench-data-example"
    assert main(["patterns", "eval", "--test", str(d), "--leave-one-out", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    traces = load_folder(d).traces
    row = report["sources"]["toolbench-data-example"]
    assert row["calls"] == sum(len(t.calls) for t in traces)
    assert row["train_overlap_sessions"] == 0
    assert row["train_sessions"] == len(traces) - 1  # each session is its own group
    # the same as evaluating each session (its own group) on the others, summed
    hits = calls = 0
    for t in traces:
        tally = evaluate_source([x for x in traces if x is not t], [t])
        hits, calls = hits + tally.hits["top1_tool"], calls + tally.calls
    assert row["top1_tool"] == round(hits / calls, 4)


def test_leave_one_out_and_train_are_exclusive(capsys):
    d = str(FIXTURES / "toolbench-data-example")
    assert _fails(["patterns", "eval", "--train", d, "--test", d, "--leave-one-out"],
                  capsys) == (2, "error: --leave-one-out mines on the rest of --test: no --train\n")
    assert _fails(["patterns", "eval", "--test", d], capsys) == (
        2, "error: --train is required (or --leave-one-out)\n")
