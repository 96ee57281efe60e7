"""Trace replay (paste.bench): recorded sessions as live paste sessions, in every mode.

The fixture traces (tests/data/traces_fixtures) are replayed with SIMULATED model time at fast
token rates and tiny tool latencies; assertions are exact counts and byte equalities, never
timings: every recorded call is an authoritative call in every mode, transcripts are identical
in every mode, no side_effect call ever ran speculatively, and the JSON report has its keys.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
import json
from pathlib import Path

import pytest

from paste.bench.classify import effect_of, family_of, stays_in_worktree
from paste.bench.latency import LatencyModel, parse_override
from paste.bench.report import percentile
from paste.bench.script import build_script
from paste.bench.tools import NO_RECORD, ReplayTools
from paste.errors import InvalidArgumentError
from paste.patterns.trace import Step, ToolCall, Trace
from test_session_support import shared_tiny_folder

FIXTURES = Path(__file__).parent / "data" / "traces_fixtures"
SOURCES = ["tau-bench-gpt4o-airline", "mini-swe-agent-gemini3pro-swebv", "fireact-hotpotqa"]
ALL_MODES = ("serial,paste,oracle,paste-no-spec,paste-no-early,paste-no-kv,paste-no-cosched,"
             "paste-no-lookahead,paste-perfect")
TINY_LATENCY = {f: (0.002, 0.004) for f in ("web_search", "search_fetch", "file_view",
                                             "file_edit", "grep_find", "script", "tests", "api")}
MODE_KEYS = {
    "mean_tct_s",
    "p50_tct_s",
    "p95_tct_s",
    "p99_tct_s",
    "mean_observed_tool_latency_s",
    "authoritative_calls",
    "hits",
    "misses",
    "speculative_jobs",
    "waste_s",
    "tokens_per_s",
    "serial_tool_share",
    "prefix_hit_ratio",
}


def options(folder: Path, sources: list[str], modes: str, decode_tok_s: float = 4000.0):
    """No waste bound and no waste price: these tests need speculation to happen whatever the
    machine's timing (both are tested in tests/test_speculation_waste.py and
    tests/test_speculation_latency.py)."""
    from paste.bench.replay import ReplayOptions

    return ReplayOptions(
        traces=[FIXTURES / s for s in sources], train=[FIXTURES / s for s in sources],
        sessions=100, concurrency=6, modes=modes, model=str(folder), decode_tok_s=decode_tok_s,
        prefill_tok_s=1e6, seed=3, latency_overrides=TINY_LATENCY, speculation_budget=64, min_groups=1,
        max_waste_ratio=None, waste_price=0.0, out=None, plots=False, progress=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """Every mode on the two short sources (tau-bench, FireAct). 1000 tokens/s: a turn lasts
    long enough (tens of ms) that admission's net value of a prediction is positive even when
    the measured coordination cost grows on a loaded machine, so hits do not depend on load."""
    from paste.bench.replay import run_replay

    folder = shared_tiny_folder(tmp_path_factory)
    return run_replay(options(folder, SOURCES[::2], ALL_MODES, decode_tok_s=1000.0))


@pytest.fixture(scope="module")
def coding(tmp_path_factory):
    """serial and paste on the coding source too (one bash tool, long sessions); 1000
    tokens/s as in `replayed`, so that read-only bash calls are speculated whatever the load."""
    from paste.bench.replay import run_replay

    folder = shared_tiny_folder(tmp_path_factory)
    return run_replay(options(folder, SOURCES, "serial,paste", decode_tok_s=1000.0))


@pytest.mark.parametrize("which", ["replayed", "coding"])
def test_every_recorded_call_is_one_authoritative_call_in_every_mode(which, request):
    report, runs, scripts = request.getfixturevalue(which)
    recorded = sum(len(s.calls) for s in scripts)
    assert len(scripts) == (8 if which == "replayed" else 12)
    assert report["config"]["num_recorded_calls"] == recorded
    # --traces and --train are the same folders here: every replayed session was mined on
    assert report["config"]["sessions_replayed"] == len(scripts)
    assert report["config"]["train_overlap_sessions"] == len(scripts)
    for run in runs:
        summary = report["modes"][run.mode.name]
        assert summary["authoritative_calls"] == recorded
        assert summary["completed_sessions"] == len(scripts)
        assert all(r.statuses == ["completed"] * len(r.statuses) for r in run.sessions)
        if run.speculation is not None:
            assert run.speculation["authoritative_calls"] == recorded


@pytest.mark.parametrize("which", ["replayed", "coding"])
def test_transcripts_are_byte_identical_in_every_mode(which, request):
    _, runs, _ = request.getfixturevalue(which)
    serial = {r.session_id: r.transcript for r in runs[0].sessions}
    assert runs[0].mode.name == "serial"
    for run in runs[1:]:
        assert {r.session_id: r.transcript for r in run.sessions} == serial


def test_no_side_effect_call_ran_speculatively_except_as_a_transaction(replayed, coding):
    """Committed side effects (authoritative runs and transaction commits) are exactly the
    serial run's; a speculative side-effecting run happens only as a worktree transaction of
    the coding source's bash tool (private until its commit)."""
    by_mode = {run.mode.name: run for run in replayed[1]}
    coding_runs = {run.mode.name: run for run in coding[1]}

    def committed(runs: dict, name: str, tool: str | None = None) -> collections.Counter:
        return collections.Counter(
            (r.session_id, t.canonical)
            for r in runs[name].sessions
            for t in r.tool_runs
            if t.effect == "side_effect" and not t.speculative and tool in (None, t.name)
        )

    for name in ("paste", "paste-no-early", "paste-no-kv"):
        spec = [t for r in by_mode[name].sessions for t in r.tool_runs if t.speculative]
        assert spec and {t.effect for t in spec} == {"read_only"}
        assert committed(by_mode, name) == committed(by_mode, "serial")
        assert not [t for r in by_mode[name].sessions for t in r.tool_runs if t.commit]
    for name in ("serial", "oracle", "paste-no-spec"):
        assert not [t for r in by_mode[name].sessions for t in r.tool_runs if t.speculative]
        assert report_of(replayed, name)["speculative_jobs"] == 0
    bash = [t for r in coding_runs["paste"].sessions for t in r.tool_runs if t.name == "bash"]
    private = [t for t in bash if t.speculative and t.effect == "side_effect"]
    assert all(stays_in_worktree(json.loads(t.canonical[4:])["command"]) for t in private)
    assert sum(committed(coding_runs, "serial", "bash").values()) > 0
    assert committed(coding_runs, "paste", "bash") == committed(coding_runs, "serial", "bash")
    commits = [t for t in bash if t.commit]
    assert {t.speculative for t in commits} <= {False}
    assert len(commits) == coding[0]["modes"]["paste"]["committed"]


def test_perfect_prediction_hits_every_call_that_may_run_speculatively(replayed):
    _report, runs, scripts = replayed
    speculable = sum(effect_of(t.call.name, t.call.arguments) in ("pure", "read_only")
                     for s in scripts for t in s.calls)
    assert 0 < speculable < sum(len(s.calls) for s in scripts)
    perfect = report_of(replayed, "paste-perfect")
    # all hits but calls admission found not worth their measured cost on a loaded machine
    refused = sum(perfect["miss_causes"].get(c, 0) for c in ("value", "cpu", "budget"))
    assert perfect["hits"] + refused == speculable and refused <= speculable // 2
    assert perfect["speculative_jobs"] == perfect["hits"]
    assert perfect["waste_s"] == 0.0
    # the mined predictor cannot do better (here it was mined on these very sessions, so it
    # may equal it when the machine's timing lets every prediction in)
    assert report_of(replayed, "paste")["hits"] <= speculable


def test_lookahead_runs_knowable_calls_beside_a_read_only_one_and_is_off_in_its_ablation(
        replayed):
    """Perfect prediction: a call is launched beside the one before it (lookahead) only when
    both may run speculatively, they are in the same run and its arguments are knowable
    without the running call's output. With these millisecond tools the call before is
    usually a speculative hit whose result landed before the model emitted it, so the chain
    launched the call first: the two counts together cover every such call.
    (tests/test_speculation_lookahead.py shows a call launched beside a running one.)"""
    from paste.bench.perfect import ScriptPredictor

    _report, _runs, scripts = replayed
    safe = ("pure", "read_only")
    ahead = 0
    for script in scripts:
        perfect, n = ScriptPredictor(script), 0
        for run in script.runs:
            calls = [t.call for t in run.turns if t.call is not None]
            for i, call in enumerate(calls):
                if i and effect_of(calls[i - 1].name, calls[i - 1].arguments) in safe \
                        and effect_of(call.name, call.arguments) in safe \
                        and calls[i - 1] != call and perfect._knowable(n, 1):
                    ahead += 1
                n += 1
    got = report_of(replayed, "paste-perfect")
    assert ahead > 0 and got["lookahead_jobs"] <= ahead
    assert got["lookahead_jobs"] + got["chained_jobs"] >= ahead
    assert report_of(replayed, "paste-no-lookahead")["lookahead_jobs"] == 0


def report_of(replayed, mode: str) -> dict:
    return replayed[0]["modes"][mode]


def test_mechanism_switches_show_in_the_counts(replayed):
    assert report_of(replayed, "serial")["prefix_hit_ratio"] == 0.0
    assert report_of(replayed, "paste-no-kv")["prefix_hit_ratio"] == 0.0
    assert report_of(replayed, "paste")["prefix_hit_ratio"] > 0.5
    assert report_of(replayed, "paste")["hits"] >= 1
    assert (
        report_of(replayed, "oracle")["mean_observed_tool_latency_s"]
        < report_of(replayed, "serial")["mean_observed_tool_latency_s"]
    )
    assert set(replayed[0]["modes"]) == set(ALL_MODES.split(","))
    for summary in replayed[0]["modes"].values():
        assert MODE_KEYS <= set(summary)


def test_every_mode_but_serial_and_its_ablation_co_schedules():
    from paste.bench.modes import MODES, coscheduling_policy
    from paste.session.priority import CoSchedulingPolicy

    off = {name for name, mode in MODES.items() if not mode.coscheduling}
    assert off == {"serial", "serial-drafts", "paste-no-cosched"}
    # serial-drafts is serial plus speculative decoding, nothing else
    assert MODES["serial-drafts"] == dataclasses.replace(
        MODES["serial"], name="serial-drafts", drafts=True)
    assert MODES["oracle-drafts"] == dataclasses.replace(  # and the oracle plus it
        MODES["oracle"], name="oracle-drafts", drafts=True)
    assert coscheduling_policy(MODES["paste"]) == CoSchedulingPolicy()
    assert coscheduling_policy(MODES["serial"]) is None
    # the ablation differs from paste in co-scheduling only
    assert MODES["paste-no-cosched"] == dataclasses.replace(
        MODES["paste"], name="paste-no-cosched", coscheduling=False)


def test_cli_json_report(tmp_path_factory, capsys):
    from paste.cli import main

    folder = shared_tiny_folder(tmp_path_factory)
    out = tmp_path_factory.mktemp("replay-out")
    src = FIXTURES / "fireact-hotpotqa"
    args = [
        "bench",
        "replay",
        "--traces",
        str(src),
        "--train",
        str(src),
        "--sessions",
        "3",
        "--concurrency",
        "3",
        "--model",
        str(folder),
        "--decode-tok-s",
        "4000",
        "--prefill-tok-s",
        "1000000",
        "--json",
        "--out",
        str(out),
        "--waste-price",
        "0.25",
    ]
    args += [a for f in TINY_LATENCY for a in ("--latency", f"{f}=0.001")]
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"modes", "config"}
    assert sorted(report["modes"]) == ["oracle", "paste", "serial"]
    assert report["config"]["model_time"] == "simulated"
    assert report["config"]["waste_price"] == 0.25
    assert report["config"]["transactions"] == "worktree"
    assert report["modes"]["serial"]["authoritative_calls"] == 6
    assert json.loads((out / "report.json").read_text()) == report
    assert (out / "report.md").read_text().startswith("# Trace replay")
    assert ("**WARNING: 3 of the 3 replayed sessions are also in --train: the predictor was "
            "mined on them") in (out / "report.md").read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))  # one timeline per mode
    assert pngs == ["timeline-oracle.png", "timeline-paste.png", "timeline-serial.png"]
    assert all((out / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_bad_waste_price_is_refused_before_anything_runs():
    from paste.cli import main

    src = str(FIXTURES / "fireact-hotpotqa")
    err = io.StringIO()
    for bad in ("-1", "nan", "inf"):
        with contextlib.redirect_stderr(err):
            assert main(["bench", "replay", "--traces", src, "--train", src,
                         "--waste-price", bad]) == 2
    assert err.getvalue().count("--waste-price must be a finite number >= 0") == 3


def test_bad_transactions_setting_is_refused_before_anything_runs():
    from paste.bench.replay import ReplayOptions, run_replay
    from paste.cli import main

    src = FIXTURES / "fireact-hotpotqa"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        main(["bench", "replay", "--traces", str(src), "--train", str(src),
              "--transactions", "maybe"])
    assert exit_.value.code == 2
    assert "invalid choice: 'maybe'" in err.getvalue()
    with pytest.raises(InvalidArgumentError, match="--transactions must be one of"):
        run_replay(ReplayOptions([src], [src], transactions="maybe"), engine=object())


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--sessions", "0", "--sessions must be >= 1, got 0"),
    ("--sessions", "-1", "--sessions must be >= 1, got -1"),
    ("--concurrency", "0", "--concurrency must be >= 1, got 0"),
    ("--poisson", "0", "--poisson must be a finite rate > 0 (sessions per second), got 0.0"),
    ("--poisson", "-2", "--poisson must be a finite rate > 0 (sessions per second), got -2.0"),
    ("--poisson", "inf", "--poisson must be a finite rate > 0 (sessions per second), got inf"),
    ("--max-latency", "-1", "--max-latency must be a finite number of seconds > 0, got -1.0"),
    ("--max-latency", "nan", "--max-latency must be a finite number of seconds > 0, got nan"),
    ("--budget", "-1", "--budget must be >= 0, got -1"),
    ("--max-batch", "0", "--max-batch must be >= 1, got 0"),
    ("--max-calls", "0", "--max-calls must be >= 1, got 0"),
    ("--num-draft-tokens", "-1", "--num-draft-tokens must be in [0, 64], got -1"),
    ("--num-draft-tokens", "65", "--num-draft-tokens must be in [0, 64], got 65"),
])
def test_bad_run_options_are_refused_before_anything_runs(tmp_path, option, value, message):
    from paste.cli import main

    src = str(FIXTURES / "fireact-hotpotqa")
    out = tmp_path / "out"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["bench", "replay", "--traces", src, "--train", src, "--out", str(out),
                     option, value]) == 2
    assert err.getvalue() == f"error: {message}\n"  # no progress bar: nothing started
    assert not out.exists()


def test_simulated_engine_reuses_a_parked_session_like_the_engine(tmp_path_factory):
    from paste.bench.sim_engine import SimulatedEngine
    from paste.engine.request import GenerationParams

    engine = SimulatedEngine(str(shared_tiny_folder(tmp_path_factory)), 1e5, 1e7)
    eos = engine.tokenizer.eos_token_id
    forced = GenerationParams(forced_tokens=tuple(engine.encode("hello there")) + (eos,))
    first = engine.chat_prompt([{"role": "user", "content": "hi"}])
    out0 = engine.submit_turn("s", first, forced).result()
    assert (out0.text, out0.num_cached_tokens, out0.finish_reason) == ("hello there", 0, "stop")
    convo = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": out0.text},
        {"role": "user", "content": "more"},
    ]
    second = engine.chat_prompt(convo)
    assert second[: len(first) + len(out0.token_ids)] == first + out0.token_ids
    out1 = engine.submit_turn("s", second, forced).result()
    assert out1.num_cached_tokens == len(first) + len(out0.token_ids) - 1
    assert engine.submit(second, forced).result().num_cached_tokens == 0
    with pytest.raises(InvalidArgumentError):
        engine.submit(second, GenerationParams())


def test_replay_tools_answer_by_position_and_canonical_call():
    calls = [
        ("bash", {"command": "pytest -q"}, "2 failed"),
        ("bash", {"command": "sed -i s/a/b/ x.py"}, "edited"),
        ("bash", {"command": "pytest -q"}, "all passed"),
    ]
    trace = Trace(
        "t1",
        "src",
        [Step("user", "fix it")]
        + [Step("tool", call=ToolCall(n, a), output=o) for n, a, o in calls],
    )
    tools = ReplayTools(
        build_script(trace), LatencyModel(overrides={"tests": (0.0, 0.0), "file_edit": (0.0, 0.0)})
    )
    spec = tools.registry.get("bash")
    position = [0]
    tools.position = lambda: position[0]
    assert spec.invoke({"command": "pytest -q"}) == "2 failed"
    position[0] = 2
    assert spec.invoke({"command": "pytest -q"}) == "all passed"
    assert spec.invoke({"command": "ls"}) == NO_RECORD
    assert spec.may_speculate({"command": "pytest -q"}) is True
    assert spec.may_speculate({"command": "sed -i s/a/b/ x.py"}) is False
    assert [(r.effect, r.speculative) for r in tools.runs] == [
        ("read_only", False),
        ("read_only", False),
        ("read_only", False),
    ]


def test_effect_classes_and_families():
    cases = {
        "cat a.py": ("read_only", "file_view"),
        "cd /repo && grep -n foo x.py": ("read_only", "grep_find"),
        "sed -n '1,5p' x.py": ("read_only", "file_edit"),
        "sed -i 's/a/b/' x.py": ("side_effect", "file_edit"),
        "cat > x.py <<EOF\nprint(1)\nEOF": ("side_effect", "file_view"),
        "python -m pytest tests/t.py": ("read_only", "tests"),
        "python reproduce.py": ("side_effect", "script"),
        "rm x.py": ("side_effect", "file_edit"),
        "git diff": ("read_only", "script"),
    }
    from paste.patterns.bash import bash_kind

    got = {c: (effect_of("bash", {"command": c}), family_of("bash", bash_kind(c))) for c in cases}
    assert got == cases
    # ToolBench's endpoint_for_service names: the service's words do not count
    assert [effect_of(n, {}) for n in ("get_track_info_for_pridnestrovie_post",
                                       "send_for_get_mail", "images_for_seo_api",
                                       "_for_lookup", "post_for_")] == [
        "read_only", "side_effect", "side_effect", "read_only", "side_effect"]  # no endpoint: all
    assert [
        effect_of(n, {})
        for n in (
            "get_reservation_details",
            "search_direct_flight",
            "book_reservation",
            "cancel_reservation",
            "think",
            "calculate",
            "liter_to_gallon",
            "add_to_watchlist",
            "transfer_to_human_agents",
            "mystery",
        )
    ] == [
        "read_only",
        "read_only",
        "side_effect",
        "side_effect",
        "pure",
        "pure",
        "pure",
        "side_effect",
        "side_effect",
        "side_effect",
    ]
    assert family_of("search", "search") == "web_search"
    assert family_of("get_user_details", "get_user_details") == "api"
    assert family_of("think", "think") == "local"
    assert family_of("liter_to_gallon", "liter_to_gallon") == "local"


def test_latency_model_is_seeded_and_overridable():
    model = LatencyModel(seed=1)
    a = model.draw("s1", "search", "search", 'search{"query":"x"}')
    assert a == model.draw("s1", "search", "search", 'search{"query":"x"}')
    assert a == LatencyModel(seed=1).draw("s1", "search", "search", 'search{"query":"x"}')
    assert a != LatencyModel(seed=2).draw("s1", "search", "search", 'search{"query":"x"}')
    fixed = LatencyModel(overrides={"search": (0.25, 0.25)})
    assert fixed.draw("s", "search", "search", "c") == 0.25
    assert (
        LatencyModel(max_latency_s=0.5, overrides={"tests": (9.0, 9.0)}).draw(
            "s", "bash", "bash:pytest", "c"
        )
        == 0.5
    )
    assert parse_override("bash:pytest=6.5:20") == ("bash:pytest", (6.5, 20.0))
    assert parse_override("api=0.3") == ("api", (0.3, 0.3))
    for bad in ("api", "api=x", "api=2:1", "=1"):
        with pytest.raises(InvalidArgumentError):
            parse_override(bad)
    assert [percentile([4.0, 1.0, 3.0, 2.0], q) for q in (50, 95, 99, 100)] == [2.0, 4.0, 4.0, 4.0]


def test_warm_up_runs_requests_through_a_real_engine_only(tmp_path_factory):
    import os

    from paste.bench.replay import ReplayOptions, make_engine, warm_up
    from paste.bench.runner import engine_step_time
    from paste.bench.sim_engine import SimulatedEngine
    from paste.engine.process_engine import ProcessEngine
    from test_session_support import tiny_engine

    folder = shared_tiny_folder(tmp_path_factory)
    engine = tiny_engine(folder)
    try:
        assert engine.stats().step_time_s is None  # no step yet
        warm_up(engine)
        assert engine.stats().step_time_s is not None and engine.stats().step_time_s > 0
        assert engine_step_time(engine) == engine.stats().step_time_s
    finally:
        engine.shutdown()
    options = ReplayOptions(traces=[], train=[], model=str(folder), model_time="real",
                            engine_process=True)
    remote = make_engine(options)  # --engine-process: the engine in its own process
    try:
        assert isinstance(remote, ProcessEngine) and remote.pid != os.getpid()
        assert engine_step_time(remote) is None
        warm_up(remote)
        assert engine_step_time(remote) > 0
    finally:
        remote.shutdown()
    simulated = SimulatedEngine(str(folder), 1e5, 1e7)
    warm_up(simulated)  # nothing to warm: no request reaches it
    assert simulated.step_time_s == 1.0 / 1e5


def test_a_replayed_session_offers_its_recorded_tools_else_the_sources_called_ones():
    from paste.bench.runner import offered_tools

    def script(sid, names, tools):
        steps = [Step(role="user", text="go")]
        steps += [Step(role="tool", call=ToolCall(n, {}), output="ok") for n in names]
        return build_script(Trace(session_id=sid, source="s", steps=steps, tools=tools))

    a = script("a", ["x"], frozenset({"x", "y"}))
    b = script("b", ["z"], None)
    c = script("c", ["w", "x"], None)
    assert offered_tools(a, [a, b, c]) == ["x", "y"]
    assert a.tools == frozenset({"x", "y"})
    assert offered_tools(b, [a, b, c]) == ["w", "x", "z"]
    assert b.tools is None


def test_poisson_arrival_offsets_are_seeded_exponential_gaps():
    import random

    from paste.bench.runner import arrival_offsets

    assert arrival_offsets(3, None, 0) == [0.0, 0.0, 0.0]  # all start at once
    rng = random.Random(7)
    gaps = [rng.expovariate(4.0) for _ in range(4)]
    expected = [0.0, gaps[0], gaps[0] + gaps[1], gaps[0] + gaps[1] + gaps[2]]
    assert arrival_offsets(4, 4.0, 7) == expected
    assert arrival_offsets(4, 4.0, 7) == arrival_offsets(4, 4.0, 7)
    assert arrival_offsets(4, 4.0, 8) != expected


def test_sessions_start_at_their_poisson_arrival(tmp_path_factory):
    import dataclasses

    from paste.bench.replay import run_replay
    from paste.bench.runner import arrival_offsets

    folder = shared_tiny_folder(tmp_path_factory)
    opts = dataclasses.replace(options(folder, ["fireact-hotpotqa"], "serial"),
                               poisson_rate=20.0, seed=5)
    report, runs, scripts = run_replay(opts)
    offsets = arrival_offsets(len(scripts), 20.0, 5)
    assert offsets[-1] > 0.05  # the arrivals are spread out
    starts = {r.session_id: r.start_s for r in runs[0].sessions}
    for script, offset in zip(scripts, offsets, strict=True):
        assert starts[script.session_id] >= offset  # never before its arrival
    assert report["config"]["poisson_rate"] == 20.0


def test_train_overlap_counts_replayed_sessions_found_in_training_by_content():
    from paste.bench.replay import load_train, train_overlap
    from paste.bench.script import build_script

    sources = ["tau-bench-gpt4o-airline", "fireact-hotpotqa"]
    train = load_train([FIXTURES / s for s in sources])
    tau = train["tau-bench-gpt4o-airline"]
    scripts = [build_script(t) for t in tau]
    assert train_overlap(scripts, train) == len(tau) == 4
    assert train_overlap(scripts, {"x": train["fireact-hotpotqa"]}) == 0
    # the same session under another id (a copy in another folder) is still the same session
    copy = dataclasses.replace(tau[0], session_id="elsewhere/0", group="other")
    assert train_overlap(scripts, {"x": [copy]}) == 1
    assert train_overlap(scripts, {}) == 0


def test_a_dated_trace_is_replayed_under_a_prompt_stating_its_date():
    from paste.bench.runner import SYSTEM, system_prompt
    from paste.patterns.values import stated_date

    steps = [Step(role="user", text="rebook me for May 24th"),
             Step(role="tool", call=ToolCall("search", {"date": "2024-05-24"}), output="[]")]
    dated = build_script(Trace(session_id="d", source="t", steps=steps, today="2024-05-15"))
    undated = build_script(Trace(session_id="u", source="t", steps=steps))
    assert (dated.today, undated.today) == ("2024-05-15", None)
    assert system_prompt(dated) == f"{SYSTEM} The current date is 2024-05-15."
    assert stated_date(system_prompt(dated)) == "2024-05-15"
    assert system_prompt(undated) == SYSTEM and stated_date(SYSTEM) is None


def test_a_replayed_session_is_given_the_environment_its_tools_acted_on():
    """BFCL's initial_config (Trace.env) goes with the script to open_session(environment=):
    the live session's predictions index it as the eval's SessionState does."""
    from paste.speculation import SpeculationConfig, SpeculationManager, Speculator
    from paste.tools import ToolExecutor

    env = {"root": {"document": {"final_report.pdf": "Year2024"}}}
    steps = [Step(role="user", text="move the report into temp"),
             Step(role="tool", call=ToolCall("cd", {"folder": "document"}), output="{}")]
    script = build_script(Trace(session_id="e", source="t", steps=steps, env=env))
    bare = build_script(Trace(session_id="n", source="t", steps=steps))
    assert (script.env, bare.env) == (env, None)
    tools = ReplayTools(script, None)
    with ToolExecutor(tools.registry) as executor:
        manager = SpeculationManager(tools.registry, executor, SpeculationConfig())
        spec = Speculator(manager, lambda tenant: None, lambda: 0.05).track(
            "e", "t", tools.registry.names(), env=script.env)
        assert spec.state.env == env
        assert ("env", "first", "k:.root.document.#0") in spec.state.explain("final_report.pdf")
