"""The held-out evaluation's arithmetic with exact values: Tally.report (rates over calls, the
argument accuracy over its own denominator, calibration bins, ECE), Tally.add, and
evaluate_source on synthetic sessions whose every call is predictable (search a quoted query,
then fetch the first result) against the bigram baseline, which replays training arguments."""

import json

from paste.patterns.evaluate import NUM_BINS, Tally, evaluate_source
from paste.patterns.report import pool_reports
from paste.patterns.trace import Step, ToolCall, Trace


def test_report_divides_by_calls_and_bins_predictions():
    t = Tally(calls=4)
    t.hits.update(top1_call=1, top3_call=2, top5_call=3, top1_tool=4, top3_tool=4,
                  arg_hits=1, arg_calls=4, baseline_top1_tool=2)
    t.bins[0] = [2, 0.1, 0]  # two predictions with p 0.05 each, neither right
    t.bins[9] = [2, 1.9, 2]  # two with p 0.95, both right
    r = t.report()
    assert r["calls"] == 4
    assert (r["top1_call"], r["top3_call"], r["top5_call"]) == (0.25, 0.5, 0.75)
    assert (r["top1_tool"], r["top3_tool"], r["baseline_top1_tool"]) == (1.0, 1.0, 0.5)
    assert (r["arg_calls"], r["arg_given_tool"]) == (4, 0.25)
    assert "arg_hits" not in r
    assert r["hits"] == {**dict.fromkeys(t.hits, 0), "top1_call": 1, "top3_call": 2,
                         "top5_call": 3, "top1_tool": 4, "top3_tool": 4, "arg_hits": 1,
                         "arg_calls": 4, "baseline_top1_tool": 2}
    assert r["calibration"] == [
        {"bin": "0.0-0.1", "predictions": 2, "mean_p": 0.05, "hit_rate": 0.0},
        {"bin": "0.9-1.0", "predictions": 2, "mean_p": 0.95, "hit_rate": 1.0},
    ]
    assert r["ece"] == 0.05  # (|0.1 - 0| + |1.9 - 2|) / 4


def _split(calls: dict[str, int], top5: dict[str, int], arg: dict[str, tuple[int, int]]) -> dict:
    """The report of one split: per source a Tally with these calls, top-5 hits and
    (arg_hits, arg_calls); overall their sum, as evaluate's _report builds it."""
    overall, sources = Tally(), {}
    for name, n in calls.items():
        t = Tally(calls=n)
        t.hits.update(top5_call=top5[name], arg_hits=arg[name][0], arg_calls=arg[name][1])
        sources[name] = t.report()
        overall.add(t)
    return {"sources": sources, "overall": overall.report()}


def test_pooled_reports_sum_counts_and_weigh_sources_by_calls():
    a = _split({"bfcl": 10, "tau": 4}, {"bfcl": 6, "tau": 1}, {"bfcl": (2, 5), "tau": (0, 0)})
    b = _split({"bfcl": 30}, {"bfcl": 15}, {"bfcl": (1, 3)})  # no tau in this split
    pooled = pool_reports([a, b])
    assert sorted(pooled["sources"]) == ["bfcl", "tau"]
    bfcl = pooled["sources"]["bfcl"]
    assert (bfcl["calls"], bfcl["hits"]["top5_call"], bfcl["top5_call"]) == (40, 21, 0.525)
    assert (bfcl["arg_calls"], bfcl["arg_given_tool"], bfcl["top1_call"]) == (8, 0.375, 0.0)
    assert "arg_hits" not in bfcl and bfcl["hits"]["arg_hits"] == 3
    tau = pooled["sources"]["tau"]
    assert (tau["calls"], tau["top5_call"], tau["arg_given_tool"]) == (4, 0.25, 0.0)
    # overall: 22 hits of 44 calls (the sources' rates 0.525 and 0.25 average to 0.3875)
    assert (pooled["overall"]["calls"], pooled["overall"]["top5_call"]) == (44, 0.5)
    assert pool_reports([a]) == {"sources": {k: {kk: vv for kk, vv in v.items()
                                                 if kk not in ("calibration", "ece")}
                                             for k, v in a["sources"].items()},
                                 "overall": {k: v for k, v in a["overall"].items()
                                             if k not in ("calibration", "ece")}}
    empty = pool_reports([])
    assert empty["sources"] == {}
    assert (empty["overall"]["calls"], empty["overall"]["top5_call"],
            empty["overall"]["arg_given_tool"]) == (0, 0.0, 0.0)
    assert set(empty["overall"]["hits"].values()) == {0}


def test_empty_tally_and_add():
    empty = Tally().report()
    assert (empty["calls"], empty["top1_call"], empty["arg_given_tool"], empty["ece"]) == (
        0, 0.0, 0.0, 0.0)
    assert empty["calibration"] == []
    a, b = Tally(calls=1), Tally(calls=2)
    a.hits["top1_call"], b.hits["top1_call"] = 1, 1
    a.bins[3], b.bins[3] = [1, 0.3, 1], [2, 0.7, 0]
    a.add(b)
    assert (a.calls, a.hits["top1_call"], a.bins[3]) == (3, 2, [3, 1.0, 1])
    assert len(a.bins) == NUM_BINS


def session(i: int, word: str) -> Trace:
    urls = [f"https://docs.example.org/{word}/{n}" for n in ("intro", "api", "faq")]
    return Trace(
        session_id=f"s{i}", source="fake", group=f"g{i}",
        steps=[
            Step("user", text=f"Find the page about '{word}' please."),
            Step("tool", call=ToolCall("search", {"query": word}),
                 output=json.dumps({"results": urls})),
            Step("tool", call=ToolCall("fetch", {"url": urls[0]}), output="the page"),
        ],
    )


def test_evaluate_source_scores_each_call_before_seeing_it():
    train = [session(i, w) for i, w in enumerate(("alpha", "gamma", "delta", "kappa"))]
    test = [session(9, "omega")]
    r = evaluate_source(train, test).report()
    assert r["calls"] == 2
    # the query is the user's quoted word, the URL the first search result: both top-1
    assert (r["top1_call"], r["top3_call"], r["top5_call"]) == (1.0, 1.0, 1.0)
    assert (r["top1_tool"], r["arg_calls"], r["arg_given_tool"]) == (1.0, 2, 1.0)
    # the bigram knows the tool order but replays a training session's arguments
    assert (r["baseline_top1_tool"], r["baseline_top1_call"], r["baseline_top5_call"]) == (
        1.0, 0.0, 0.0)
    assert sum(b["predictions"] for b in r["calibration"]) >= 2


def test_each_tenant_of_a_source_is_mined_apart(tmp_path):
    # paste's own JSONL carries a tenant per record; before, eval mined one "default" store
    # and stopped at the first record of another tenant.
    from pathlib import Path

    from paste.patterns.evaluate import evaluate
    from paste.patterns.loaders import load_folder

    fixture = Path(__file__).resolve().parent / "data" / "traces_fixtures" / "paste-jsonl"
    lines = (fixture / "sessions.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["tenant"] = "beta"
    (tmp_path / "sessions.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    traces = load_folder(tmp_path).traces
    assert sorted(t.tenant for t in traces) == ["acme", "beta"]
    report = evaluate([tmp_path], [tmp_path])
    expected = Tally()
    for tenant in ("acme", "beta"):
        mine_ = [t for t in traces if t.tenant == tenant]
        expected.add(evaluate_source(mine_, mine_, tenant))
    assert report["sources"]["paste-jsonl"] == {**expected.report(), "train_overlap_sessions": 2,
                                                   "train_sessions": 2}
    assert report["sources"]["paste-jsonl"]["calls"] == 4
