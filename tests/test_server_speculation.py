"""Speculation of native server sessions, over real HTTP on the random tiny model: a read-only
server tool, a predictor mined by `paste patterns mine` from a small paste-format trace (or
learned online from the server's own completed runs) whose prediction is exact. /metrics
shows exactly one speculative job and its hit; with speculation off every speculation counter
is 0 and the transcript is identical; tenants stay isolated; the config and CLI switches
reach the sessions; a bad pattern store is a typed error."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from contextlib import contextmanager

import httpx
import pytest

from paste.cli import build_parser, main
from paste.cli.serve_cmd import server_options
from paste.engine.pooling import PoolingParams
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from paste.patterns.errors import PatternStoreError
from paste.server import BackgroundServer, ServerConfig, create_app
from paste.session.priority import CoSchedulingPolicy
from paste.tools import ToolRegistry
from paste.tools.transaction import Staged
from test_server_metrics import scrape
from test_server_sessions import create
from test_server_support import HANG_GUARD_S, make_engine, wait_until

FILES = {"README.md": "# demo\nhello from the server tool\n", "a/one.txt": "one",
         "b/two.txt": "two", "c/three.txt": "three"}  # fmt: skip
ANSWER = "Done."
COUNTERS = ("authoritative_calls", "misses", "jobs", "chained_jobs", "lookahead_jobs", "cancelled",
            "stale_discarded", "committed", "commit_failures",
            "waste_seconds", "observed_tool_latency_seconds")  # fmt: skip
REASONS = ("budget", "cpu", "effect", "estimates", "policy", "unknown_tool", "value", "waste")
CAUSES = ("not_speculable", "policy", "discarded", "estimates", "value", "waste", "cpu", "budget",
          "unpredicted")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = make_engine(tmp_path_factory)
    for _ in eng.submit(eng.encode("warm up"), GenerationParams(max_tokens=2)):
        pass  # one real step: the engine's step time (an admission estimate) is now known
    yield eng
    eng.shutdown()


@pytest.fixture()
def tools():
    """A read-only file tool over FILES, and the list of paths it actually ran on."""
    runs: list[str] = []
    registry = ToolRegistry()

    @registry.tool(effect="read_only", timeout_s=HANG_GUARD_S)
    def read_file(path: str) -> str:
        """Read a text file of the demo workspace."""
        time.sleep(0.05)  # a tool time well above the coordination cost (net value > 0)
        runs.append(path)
        return FILES.get(path, "no such file")

    return registry, runs


@pytest.fixture(scope="module")
def mined_store(tmp_path_factory):
    """`paste patterns mine` on 12 paste-format sessions "Read <path> please." -> read_file."""
    folder = tmp_path_factory.mktemp("traces")
    lines = []
    for i in range(12):
        path = f"dir{i}/file{i}.txt"
        call = {"id": "call_1", "type": "function",
                "function": {"name": "read_file", "arguments": json.dumps({"path": path})}}
        lines.append(json.dumps({"session_id": f"r{i}", "tenant": "acme", "messages": [
            {"role": "user", "content": f"Read {path} please."},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "name": "read_file",
             "content": f"text of {path}"},
            {"role": "assistant", "content": "Done."},
        ]}))  # fmt: skip
    (folder / "reads.jsonl").write_text("\n".join(lines) + "\n")
    out = folder / "acme.json"
    assert main(["patterns", "mine", "--train", str(folder), "--out", str(out),
                 "--tenant", "acme"]) == 0  # fmt: skip
    return str(out)


@contextmanager
def serving(engine, registry, **config):
    app = create_app(engine, ServerConfig(model_id="tiny", **config), tools=registry)
    with BackgroundServer(app) as server:
        yield server, app.state.paste


def staged_done(state, session_id) -> bool:
    """The session's one speculative job has finished (so the model's call reuses it)."""
    jobs = [j for m in state.speculation.managers() for j in m.staging.jobs(session_id)]
    return len(jobs) == 1 and jobs[0].future.done()


def reader(wait: Callable[[], bool] | None = None, tool: str = "read_file", verb: str = "Read"):
    """Script: call `tool` on the path of the last "<verb> <path> please." until a tool
    result is in the prompt, then answer. `wait` is awaited before the calling turn."""

    def script(prompt: str) -> str:
        if "<|im_start|>tool\n" in prompt:
            return ANSWER
        if wait is not None:
            assert wait_until(wait)
        path = re.findall(rf"{verb} (\S+) please\.", prompt)[-1]
        return json.dumps({"name": tool, "arguments": {"path": path}})

    return script


def run(server, engine, session_id, text, script):
    with engine.scripted(script):
        response = httpx.post(f"{server.url}/v1/sessions/{session_id}/messages",
                              json={"content": text, "stream": False}, timeout=HANG_GUARD_S)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    return httpx.get(f"{server.url}/v1/sessions/{session_id}").json()


def speculation_values(server) -> dict:
    names, values = scrape(server.url)
    out = {c: values[(f"paste_speculation_{c}_total", ())] for c in COUNTERS}
    out.update({f"hits_{k}": values[("paste_speculation_hits_total", (("kind", k),))]
                for k in ("promoted", "awaited", "reused")})  # fmt: skip
    out.update({f"rejected_{r}": values[("paste_speculation_rejections_total",
                                         (("reason", r),))] for r in REASONS})  # fmt: skip
    out.update({f"miss_{c}": values[("paste_speculation_miss_causes_total",
                                     (("cause", c),))] for c in CAUSES})  # fmt: skip
    for gauge in ("paste_speculation_budget_in_use", "paste_speculation_budget_capacity",
                  "paste_patterns_tenants"):  # fmt: skip
        out[gauge] = values[(gauge, ())]
    out["at_risk"] = values[("paste_speculation_waste_at_risk_seconds", ())]
    out["learned"] = values[("paste_patterns_learned_runs_total", ())]
    out["failed"] = values[("paste_patterns_failed_runs_total", ())]
    return out


def zeros(**changes) -> dict:
    base = {c: 0.0 for c in COUNTERS}
    base.update({f"hits_{k}": 0.0 for k in ("promoted", "awaited", "reused")})
    base.update({f"rejected_{r}": 0.0 for r in REASONS})
    base.update({f"miss_{c}": 0.0 for c in CAUSES})
    base.update({"paste_speculation_budget_in_use": 0.0, "paste_speculation_budget_capacity": 0.0,
                 "paste_patterns_tenants": 0.0, "at_risk": 0.0, "learned": 0.0,
                 "failed": 0.0})  # fmt: skip
    base.update(changes)
    return base


def test_mined_prediction_is_one_job_one_hit_and_off_is_identical(engine, tools, mined_store):
    registry, runs = tools
    with serving(engine, registry, pattern_store=mined_store) as (server, state):
        assert speculation_values(server) == zeros(
            paste_speculation_budget_capacity=16.0, paste_patterns_tenants=1.0)
        sid = create(server, tools=["read_file"], tenant="acme")["id"]
        on = run(server, engine, sid, "Read README.md please.",
                 reader(lambda: staged_done(state, sid)))
        assert runs == ["README.md"]  # one run: the speculative job answered the call
        per_session = on["metrics"]["speculation"]
        assert (per_session["authoritative_calls"], per_session["speculative_jobs"],
                per_session["hits_reused"], per_session["hits"], per_session["misses"],
                per_session["rejected"]) == (1, 1, 1, 1, 0, {})  # fmt: skip
        assert httpx.delete(f"{server.url}/v1/sessions/{sid}").status_code == 200
        assert wait_until(lambda: speculation_values(server)["learned"] == 1.0)
        # the hit's tool time was used: the waste budget's denominator, exactly as measured
        used = scrape(server.url)[1][("paste_speculation_used_tool_seconds_total", ())]
        assert used == state.speculation.shared.waste.snapshot()["used_s"] > 0.0
        # nothing was wasted: the budget counts jobs at their expected latency (overrun 1)
        assert scrape(server.url)[1][("paste_speculation_waste_overrun", ())] == 1.0
        # After the result the only candidate would read README.md again: the mined sessions
        # never repeated a call at once, so it is not predicted and exactly one job ran.
        assert speculation_values(server) == zeros(
            authoritative_calls=1.0, jobs=1.0, hits_reused=1.0,
            paste_speculation_budget_capacity=16.0, paste_patterns_tenants=1.0, learned=1.0)

    with serving(engine, registry, pattern_store=mined_store,
                 enable_speculation=False) as (server, state):  # fmt: skip
        assert state.speculation is None
        sid = create(server, tools=["read_file"], tenant="acme")["id"]
        off = run(server, engine, sid, "Read README.md please.", reader())
        assert speculation_values(server) == zeros()
        assert "speculation" not in off["metrics"]
        assert scrape(server.url)[1][("paste_speculation_waste_overrun", ())] == 0.0
    assert runs == ["README.md", "README.md"]
    assert json.dumps(off["messages"]) == json.dumps(on["messages"])
    assert on["messages"][2]["content"] == FILES["README.md"]


def delta(after: dict, before: dict) -> dict:
    """Counter changes between two speculation_values snapshots (gauges as they are after)."""
    gauges = ("paste_speculation_budget_in_use", "paste_speculation_budget_capacity",
              "paste_patterns_tenants", "at_risk")  # fmt: skip
    return {k: v if k in gauges else v - before[k] for k, v in after.items()}


def learn(server, engine, tenant: str, tool: str, verb: str, paths: list[str]) -> None:
    """One run per path for `tenant`, each learned before the next starts."""
    start = speculation_values(server)["learned"]
    for n, path in enumerate(paths, start=1):
        sid = create(server, tools=[tool], tenant=tenant)["id"]
        run(server, engine, sid, f"{verb} {path} please.", reader(None, tool, verb))
        assert wait_until(lambda n=n: speculation_values(server)["learned"] == start + n)


def test_online_learning_per_tenant(engine, tools):
    registry, runs = tools
    with serving(engine, registry) as (server, state):
        learn(server, engine, "beta", "read_file", "Read", ["a/one.txt", "b/two.txt",
                                                            "c/three.txt"])
        # Its path is a hole filled from the user's message (a schema-only template), so
        # the store may have speculated from its second run on; every path ran.
        assert set(runs) == {"a/one.txt", "b/two.txt", "c/three.txt"}
        before, ran = speculation_values(server), len(runs)
        sid = create(server, tools=["read_file"], tenant="beta")["id"]
        run(server, engine, sid, "Read README.md please.", reader(lambda: staged_done(state, sid)))
        other = create(server, tools=["read_file"], tenant="gamma")["id"]
        run(server, engine, other, "Read README.md please.", reader())
        assert wait_until(lambda: speculation_values(server)["learned"] == 5.0)
        values = delta(speculation_values(server), before)
    assert runs[ran:] == ["README.md", "README.md"]
    # beta's fourth run: one job, one hit; gamma learned nothing from beta: no job, a miss
    # (its call was never predicted), which waited for its whole tool run (>= 0.05 s); the hit waited for nothing.
    assert values.pop("observed_tool_latency_seconds") >= 0.05
    values["observed_tool_latency_seconds"] = 0.0
    values["at_risk"] = 0.0  # a learning run's unclaimed job stays at risk while it is open
    # (no run repeated a call at once: nothing is predicted after beta's result)
    assert values == zeros(authoritative_calls=2.0, misses=1.0, miss_unpredicted=1.0, jobs=1.0,
                           hits_reused=1.0, paste_speculation_budget_capacity=16.0,
                           paste_patterns_tenants=2.0, learned=2.0)  # fmt: skip


def test_a_side_effecting_tool_with_a_transaction_commits_once_on_a_hit(engine):
    """A write tool that supplies a transaction: after three learned runs the fourth run's
    write is staged privately while the model decodes, and committed exactly once when the
    model emits it; the transcript is the one the real tool gives."""
    written: dict[str, str] = {}
    runs: list[tuple[str, str]] = []
    registry = ToolRegistry()

    def stage(path: str) -> Staged:
        time.sleep(0.05)
        runs.append(("staged", path))

        def commit() -> None:
            written[path] = "x"
            runs.append(("committed", path))

        return Staged(f"wrote {path}", commit)

    @registry.tool(effect="side_effect", timeout_s=HANG_GUARD_S, transaction=stage)
    def write_file(path: str) -> str:
        """Write a file of the demo workspace."""
        time.sleep(0.05)
        written[path] = "x"
        runs.append(("wrote", path))
        return f"wrote {path}"

    paths = ["a/one.txt", "b/two.txt", "c/three.txt"]
    with serving(engine, registry) as (server, state):
        learn(server, engine, "delta", "write_file", "Write", paths)
        # whether or not a learning run was staged, each path was written exactly once
        assert sorted(p for how, p in runs if how in ("wrote", "committed")) == sorted(paths)
        before, ran = speculation_values(server), len(runs)
        sid = create(server, tools=["write_file"], tenant="delta")["id"]
        out = run(server, engine, sid, "Write d/four.txt please.",
                  reader(lambda: staged_done(state, sid), "write_file", "Write"))
        values = delta(speculation_values(server), before)
    assert runs[ran:] == [("staged", "d/four.txt"), ("committed", "d/four.txt")]
    assert written == dict.fromkeys(paths + ["d/four.txt"], "x")
    assert out["messages"][2]["content"] == "wrote d/four.txt"
    assert (values["jobs"], values["hits_reused"], values["committed"], values["misses"],
            values["commit_failures"]) == (1.0, 1.0, 1.0, 0.0, 0.0)


def test_learned_patterns_survive_a_restart_with_a_pattern_dir(engine, tools, tmp_path):
    registry, runs = tools
    with serving(engine, registry, pattern_dir=str(tmp_path)) as (server, state):
        learn(server, engine, "beta", "read_file", "Read", ["a/one.txt", "b/two.txt",
                                                            "c/three.txt"])
    assert [p.name for p in tmp_path.iterdir()] == ["beta.json"]
    before = len(runs)
    with serving(engine, registry, pattern_dir=str(tmp_path)) as (server, state):
        assert state.speculation.predictors.tenants() == ["beta"]  # learned by the last server
        sid = create(server, tools=["read_file"], tenant="beta")["id"]
        run(server, engine, sid, "Read README.md please.", reader(lambda: staged_done(state, sid)))
        values = speculation_values(server)
    assert runs[before:] == ["README.md"]  # the hit ran the tool once
    assert (values["jobs"], values["hits_reused"], values["misses"]) == (1.0, 1.0, 0.0)


def test_switches_reach_the_sessions(engine, tools):
    registry, _runs = tools
    with serving(engine, registry, early_dispatch=False, kv_retention=False,
                 coscheduling=False, learn_patterns=False) as (server, state):  # fmt: skip
        session = state.sessions.get(create(server, tools=["read_file"])["id"])
        assert (session.early_dispatch, session.kv_retention, session.coscheduling) == (
            False, False, None)
        assert session.speculation is not None and not state.speculation.predictors.learn_online
        tool_less = state.sessions.get(create(server, tools=[])["id"])
        assert tool_less.speculation is None  # nothing to speculate on
    with serving(engine, registry, speculation_budget=3) as (server, state):
        session = state.sessions.get(create(server, tools=["read_file"])["id"])
        assert (session.early_dispatch, session.kv_retention) == (True, True)
        assert session.coscheduling == CoSchedulingPolicy()
        assert state.speculation.budget.capacity == 3


def test_cli_switches():
    defaults = server_options(build_parser().parse_args(["serve", "--model", "m"]))
    assert defaults == {"enable_speculation": True, "early_dispatch": True, "kv_retention": True,
                        "coscheduling": True, "strict_tool_calls": True,
                        "learn_patterns": True, "pattern_store": None,
                        "pattern_dir": None, "pattern_save_interval": 30.0,
                        "session_dir": None, "session_fsync": False, "reasoning_parser": None,
                        "pooling": PoolingParams(),
                        "response_dir": None, "response_fsync": False,
                        "speculation_budget": 16, "speculation_waste_price": 0.1,
                        "speculation_max_waste_ratio": 0.5,
                        "speculation_transactions": True,
                        "max_stored_responses": 1024, "log_stats_interval_s": 10.0,
                        "allowed_origins": ("*",), "allowed_methods": ("*",),
                        "allowed_headers": ("*",), "allow_credentials": False,
                        "log_requests": False, "max_log_len": None,
                        "request_id_headers": False, "disable_fastapi_docs": False,
                        "allow_runtime_lora_updating": False}  # fmt: skip
    args = build_parser().parse_args([
        "serve", "--model", "m", "--no-speculation", "--no-early-dispatch", "--no-kv-retention",
        "--no-coscheduling", "--no-learn-patterns", "--no-transactions", "--pattern-store", "p.json",
        "--no-strict-tool-calls",
        "--pattern-dir", "stores", "--pattern-save-interval", "0", "--session-dir", "journal",
        "--session-fsync", "--response-dir", "journal", "--speculation-budget", "4", "--waste-price", "0.5", "--max-waste-ratio", "none",
        "--allow-runtime-lora-updating", "--pooler-config", '{"pooling_type": "MEAN"}'])  # fmt: skip
    assert server_options(args) == {"enable_speculation": False, "early_dispatch": False,
                                    "kv_retention": False, "coscheduling": False,
                                    "strict_tool_calls": False,
                                    "learn_patterns": False, "pattern_store": "p.json",
                                    "pattern_dir": "stores", "pattern_save_interval": 0.0,
                                    "session_dir": "journal", "session_fsync": True,
                                    "response_dir": "journal", "response_fsync": False,
                                    "reasoning_parser": None,
                                    "pooling": PoolingParams("MEAN"),
                                    "speculation_budget": 4,
                                    "speculation_waste_price": 0.5,
                                    "speculation_max_waste_ratio": None,
                                    "speculation_transactions": False,
                                    "max_stored_responses": 1024,
                                    "log_stats_interval_s": 10.0,
                                    "allowed_origins": ("*",), "allowed_methods": ("*",),
                                    "allowed_headers": ("*",),
                                    "allow_credentials": False, "log_requests": False,
                                    "max_log_len": None, "request_id_headers": False,
                                    "disable_fastapi_docs": False,
                                    "allow_runtime_lora_updating": True}  # fmt: skip
    config = ServerConfig(model_id="m", **server_options(args))  # a valid config
    assert config.speculation_transactions is False
    assert config.speculation_waste_price == 0.5
    assert config.speculation_max_waste_ratio is None
    for bad in ("-1", "x", "inf", "nan"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", "--model", "m", "--max-waste-ratio", bad])


@pytest.mark.parametrize("bad", [{"speculation_budget": -1}, {"speculation_max_predictions": -2},
                                 {"pattern_store": ""}, {"speculation_waste_price": -0.1},
                                 {"speculation_waste_price": float("nan")},
                                 {"speculation_max_waste_ratio": -0.5},
                                 {"speculation_max_waste_ratio": float("inf")},
                                 {"speculation_max_waste_ratio": "0.5"}])  # fmt: skip
def test_invalid_speculation_config_raises(bad):
    with pytest.raises(InvalidArgumentError):
        ServerConfig(model_id="m", **bad)


def test_unreadable_pattern_store_is_a_typed_error(engine, tmp_path):
    (tmp_path / "bad.json").write_text('{"version": 999}')
    for path in (tmp_path / "bad.json", tmp_path / "missing.json"):
        with pytest.raises(PatternStoreError):
            create_app(engine, ServerConfig(model_id="tiny", pattern_store=str(path)))


def test_a_sessions_environment_reaches_its_prediction_state(engine, tools):
    registry, _runs = tools
    env = {"root": {"docs": {"README.md": "hello"}}}
    with serving(engine, registry) as (server, state):
        session = state.sessions.get(create(server, tools=["read_file"], environment=env)["id"])
        assert session.speculation.state.env == env
        # indexed as the session's environment entry: a file name (a key) and its content
        explain = session.speculation.state.explain
        assert explain("README.md") == {("env", "first", "k:.root.docs.#0"),
                                        ("env", "b1", "k:.root.docs.#0")}
        assert ("env", "first", "j:.root.docs.#0") in explain("hello")
        bare = state.sessions.get(create(server, tools=["read_file"])["id"])
        assert bare.speculation.state.env is None and bare.speculation.state.entries == []
        for bad in ([1, 2], "root", 3):
            response = httpx.post(server.url + "/v1/sessions",
                                  json={"tools": ["read_file"], "environment": bad})
            assert response.status_code == 400
            assert response.json()["error"]["param"] == "environment"
        response = httpx.post(server.url + "/v1/sessions", headers={"content-type": "application/json"},
                              content=b'{"tools": ["read_file"], "environment": {"x": NaN}}')
        assert response.status_code == 400  # Python's JSON reads NaN; a trace could not hold it
        assert "environment must be a JSON value" in response.json()["error"]["message"]
        assert len(state.sessions) == 2  # the refused requests opened no session
