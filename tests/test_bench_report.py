"""The replay report's numbers from fake mode runs (exact values): TCT statistics, the per-task
ratio against serial (by session, median, quantiles, share slower), the share of the
serial -> oracle gap captured, waste over serial's tool time, and the Markdown tables."""

from paste.bench.modes import MODES
from paste.bench.report import markdown, summarize
from paste.bench.runner import ModeRun, SessionRecord


def fake_run(mode: str, tcts: dict[str, float], tool_s: float = 1.0,
             speculation: dict | None = None) -> ModeRun:
    """A ModeRun whose sessions (named by `tcts`) took those TCTs; each made 2 calls, waited
    1 s for tools and got `tool_s` tool-seconds; 100 prompt tokens (40 cached), 10 output."""
    sessions = [
        SessionRecord(
            session_id=sid, tenant="t", statuses=["completed"], tct_s=tct, start_s=0.0,
            transcript="", timings={}, tool_runs=[], t0=0.0,
            metrics={"num_tool_calls": 2, "num_prompt_tokens": 100, "num_cached_tokens": 40,
                     "num_output_tokens": 10, "tool_wait_s": 1.0, "tool_s": tool_s,
                     "turns": []},
        )
        for sid, tct in tcts.items()
    ]
    return ModeRun(MODES[mode], sessions, wall_s=10.0, speculation=speculation)


SERIAL = {"a": 4.0, "b": 8.0, "c": 2.0, "d": 16.0}
PASTE = {"a": 2.0, "b": 8.0, "c": 3.0, "d": 4.0}  # ratios 0.5, 1.0, 1.5, 0.25
ORACLE = {"a": 1.0, "b": 2.0, "c": 1.0, "d": 4.0}


def report() -> dict:
    runs = [fake_run("serial", SERIAL, tool_s=2.0), fake_run("oracle", ORACLE, tool_s=0.0),
            fake_run("paste", PASTE, speculation={"hits": 3, "waste_s": 2.0,
                                                  "speculative_jobs": 5})]
    return summarize(runs, {"model_time": "simulated"})


def test_tct_statistics_and_ratios_against_serial():
    paste = report()["modes"]["paste"]
    assert paste["mean_tct_s"] == 4.25
    assert (paste["p50_tct_s"], paste["p95_tct_s"], paste["p99_tct_s"]) == (3.0, 8.0, 8.0)
    assert paste["tct_ratio_vs_serial"] == 4.25 / 7.5
    assert paste["task_ratios_vs_serial"] == {"a": 0.5, "b": 1.0, "c": 1.5, "d": 0.25}
    assert paste["median_task_ratio_vs_serial"] == 0.75  # between 0.5 and 1.0
    assert paste["share_tasks_slower_than_serial"] == 0.25  # only c; b ties serial
    assert paste["task_ratio_quantiles"] == {"min": 0.25, "p10": 0.25, "p25": 0.25,
                                             "p50": 0.5, "p75": 1.0, "p90": 1.5, "max": 1.5}
    # serial 7.5 s, oracle 2.0 s: paste's 4.25 s took 3.25 of the 5.5 s gap
    assert paste["oracle_gap_captured"] == 3.25 / 5.5
    assert paste["waste_ratio"] == 2.0 / 8.0  # over serial's 4 x 2 tool-seconds
    assert (paste["hits"], paste["authoritative_calls"], paste["hit_rate"]) == (3, 8, 3 / 8)
    assert paste["prefix_hit_ratio"] == 0.4
    serial = report()["modes"]["serial"]
    assert serial["task_ratio_quantiles"] == dict.fromkeys(
        ("min", "p10", "p25", "p50", "p75", "p90", "max"), 1.0)
    assert (serial["share_tasks_slower_than_serial"], serial["oracle_gap_captured"]) == (0.0, 0.0)


def test_a_drafting_mode_is_measured_against_the_oracle_with_drafts():
    drafts = {"a": 1.5, "b": 6.0, "c": 2.0, "d": 3.0}  # mean 3.125
    oracle_drafts = {"a": 0.5, "b": 1.5, "c": 1.0, "d": 3.0}  # mean 1.5
    runs = [fake_run("serial", SERIAL), fake_run("oracle", ORACLE), fake_run("paste", PASTE),
            fake_run("paste-drafts", drafts)]
    modes = summarize(runs, {})["modes"]
    # without oracle-drafts in the run, every mode's ceiling is the oracle (2.0 s)
    assert modes["paste-drafts"]["oracle_gap_captured"] == (7.5 - 3.125) / 5.5
    assert modes["paste-drafts"]["oracle_reference"] == "oracle"
    modes = summarize(runs + [fake_run("oracle-drafts", oracle_drafts)], {})["modes"]
    assert modes["paste-drafts"]["oracle_gap_captured"] == (7.5 - 3.125) / 6.0
    assert modes["paste-drafts"]["oracle_reference"] == "oracle-drafts"
    assert modes["paste"]["oracle_gap_captured"] == 3.25 / 5.5  # plain modes: plain oracle
    assert modes["paste"]["oracle_reference"] == "oracle"
    assert modes["oracle-drafts"]["oracle_gap_captured"] == 1.0


def test_without_serial_there_is_no_ratio():
    modes = summarize([fake_run("paste", PASTE)], {})["modes"]
    assert "task_ratio_quantiles" not in modes["paste"]
    assert modes["paste"]["serial_tool_share"] is None and modes["paste"]["waste_ratio"] is None
    assert "Per-task TCT" not in markdown({"modes": modes, "config": {}})


def test_markdown_has_the_summary_and_the_ratio_distribution():
    text = markdown(report())
    assert text.startswith("# Trace replay\n\n| mode | sessions | mean TCT s |")
    assert "| paste | 0.250 | 0.250 | 0.250 | 0.500 | 1.000 | 1.500 | 1.500 | 25% |" in text
    assert "| serial | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 0% |" in text
    assert text.endswith("Configuration:\n- model_time: simulated\n")


def test_ratio_spread_cell():
    from paste.bench.report import ratio_spread

    modes = report()["modes"]
    assert ratio_spread(modes["paste"]) == "0.25 / 0.75 / 1.50"  # p10 / median / p90
    assert ratio_spread(summarize([fake_run("paste", PASTE)], {})["modes"]["paste"]) == "-"


def test_misses_by_cause_in_the_json_the_cell_and_the_markdown():
    from paste.bench.report import miss_summary

    causes = {"not_speculable": 2, "policy": 1, "unpredicted": 1, "value": 1, "waste": 1}
    runs = [fake_run("serial", SERIAL, tool_s=2.0),
            fake_run("paste", PASTE, speculation={"hits": 1, "misses": 7,
                                                  "miss_causes": {**causes, "discarded": 1}})]
    modes = summarize(runs, {})["modes"]
    assert modes["paste"]["miss_causes"] == {**causes, "discarded": 1}
    assert modes["serial"]["miss_causes"] == {}  # serial does not speculate
    # not speculable (incl. policy) / unpredicted / refused by admission / discarded
    assert miss_summary(modes["paste"]) == "3 / 1 / 2 / 1"
    assert miss_summary(modes["serial"]) == "-"
    text = markdown({"modes": modes, "config": {}})
    assert ("| mode | misses | not_speculable | policy | discarded | estimates | value | waste "
            "| cpu | budget | unpredicted |") in text
    assert "| paste | 7 | 2 | 1 | 1 | 0 | 1 | 1 | 0 | 0 | 1 |" in text
    assert "| serial | " not in text.split("Misses by cause")[1]


def test_terminal_table_lists_each_speculating_modes_misses_by_cause():
    from paste.bench.report import terminal_table

    runs = [fake_run("serial", SERIAL, tool_s=2.0),
            fake_run("paste", PASTE, speculation={"hits": 1, "misses": 3, "miss_causes": {
                "unpredicted": 2, "not_speculable": 1}})]
    text = terminal_table(summarize(runs, {}))
    assert text.splitlines()[-1] == "misses of paste by cause: not_speculable 1, unpredicted 2"
    assert "misses of serial" not in text
