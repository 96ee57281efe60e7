"""Live workloads end to end (paste.workloads.live): training run -> mined predictor -> serial,
paste and oracle modes over the same tasks, on SIMULATED model time at fast rates, with the
tiny corpus (no injected latency) and in-process science. Exact counts and byte equalities,
never timings."""

from __future__ import annotations

import contextlib
import io

import pytest

from paste.cli import main
from paste.errors import InvalidArgumentError
from paste.workloads.live import LiveOptions, run_live
from paste.workloads.tasks import parse_workloads
from test_session_support import shared_tiny_folder
from test_workloads_support import sim_engine, thoughts, tiny_corpus

KEYS = {"mean_tct_s", "p50_tct_s", "p95_tct_s", "p99_tct_s", "mean_observed_tool_latency_s",
        "authoritative_calls", "hits", "misses", "speculative_jobs", "waste_s", "tokens_per_s",
        "serial_tool_share", "prefix_hit_ratio", "oracle_gap_captured"}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    engine = sim_engine(shared_tiny_folder(tmp_path_factory))
    options = LiveOptions(
        workloads=["science", "research"], sessions=2, train_sessions=3, concurrency=4,
        modes="paste,oracle,serial", seed=1, latency_scale=0.0, min_groups=1,
        corpus=tiny_corpus(), science_in_process=True, plots=False, progress=False,
        max_waste_ratio=None,  # speculation must happen whatever the machine's timing
    )  # fmt: skip
    return run_live(options, engine)


def test_report_has_every_key_in_the_requested_order(ran):
    report, _ = ran
    assert list(report["modes"]) == ["paste", "oracle", "serial"]
    for mode in report["modes"].values():
        assert KEYS <= set(mode)
        assert mode["sessions"] == mode["completed_sessions"] == 4
    assert report["config"]["sources"] == ["science", "research"]
    assert report["config"]["train_seed"] == 1001
    assert report["config"]["tasks"] == ["science-1-0", "science-1-1", "research-1-0",
                                         "research-1-1"]


def test_every_mode_makes_the_same_calls_with_the_same_transcripts(ran):
    _, runs = ran
    serial, paste, oracle = runs["serial"], runs["paste"], runs["oracle"]
    assert serial.calls == paste.calls == oracle.calls
    assert serial.answers == paste.answers == oracle.answers
    transcripts = {m: {r.session_id: r.transcript for r in runs[m].run.sessions}
                   for m in ("serial", "paste", "oracle")}
    assert transcripts["serial"] == transcripts["paste"] == transcripts["oracle"]
    calls = sum(len(c) for c in serial.calls.values())
    report, _ = ran
    assert {m["authoritative_calls"] for m in report["modes"].values()} == {calls}


def test_every_thought_is_200_to_600_characters(ran):
    _, runs = ran
    said = [t for task in runs["serial"].calls for t in thoughts(runs["serial"], task)]
    assert len(said) == sum(len(c) for c in runs["serial"].calls.values())
    assert all(200 <= len(t) <= 600 for t in said), sorted(len(t) for t in said)


def test_oracle_runs_no_tool_and_serial_never_speculates(ran):
    _, runs = ran
    assert all(r.tool_runs == [] for r in runs["oracle"].run.sessions)
    assert not any(t.speculative for r in runs["serial"].run.sessions for t in r.tool_runs)
    spec = [t for r in runs["paste"].run.sessions for t in r.tool_runs if t.speculative]
    assert all(t.effect in ("read_only", "pure") for t in spec)
    report, _ = ran
    assert report["modes"]["paste"]["speculative_jobs"] >= len(spec) > 0


def test_bad_options_are_typed_errors():
    with pytest.raises(InvalidArgumentError, match="unknown workload"):
        parse_workloads("research,chess")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["bench", "live", "--workloads", "chess"]) == 2
    assert "unknown workload(s) chess" in err.getvalue()
    with contextlib.redirect_stderr(err):
        assert main(["bench", "live", "--modes", "fast"]) == 2
    with contextlib.redirect_stderr(err):
        assert main(["bench", "live", "--waste-price", "-0.5"]) == 2
    assert "--waste-price must be a finite number >= 0, got -0.5" in err.getvalue()
    for option, value, message in [
        ("--sessions", "0", "--sessions must be >= 1, got 0"),
        ("--concurrency", "0", "--concurrency must be >= 1, got 0"),
        ("--poisson", "0", "--poisson must be a finite rate > 0 (sessions per second), got 0.0"),
        ("--train-sessions", "-1", "--train-sessions must be >= 0, got -1"),
        ("--latency-scale", "-1", "--latency-scale must be a finite number >= 0, got -1.0"),
    ]:
        with contextlib.redirect_stderr(err):
            assert main(["bench", "live", option, value]) == 2
        assert f"error: {message}\n" in err.getvalue()
    with contextlib.redirect_stderr(err):
        assert main(["bench", "live", "--modes", "serial,paste-perfect"]) == 2
    assert ("mode paste-perfect predicts a replayed trace's recorded calls; live tasks have "
            "none") in err.getvalue()
