"""Agents over the OpenAI API (paste.bench.http_agents): recorded sessions replayed by HTTP
clients against a real server on a teacher-forced SimulatedEngine make exactly the recorded
calls; requests that name no session, or one past its script, are refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from paste.bench.http_agents import TeacherForcedServer, run_client
from paste.bench.latency import LatencyModel
from paste.bench.replay import load_scripts
from paste.bench.runner import offered_tools
from paste.bench.sim_engine import SimulatedEngine
from paste.parsing import canonical_call
from paste.server import BackgroundServer, ServerConfig, create_app
from test_session_support import shared_tiny_folder

FIXTURES = Path(__file__).parent / "data" / "traces_fixtures"
FAST = {f: (0.001, 0.002) for f in ("web_search", "search_fetch", "file_view", "file_edit",
                                    "grep_find", "script", "tests", "api")}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = str(shared_tiny_folder(tmp_path_factory))
    sim = SimulatedEngine(folder, 1e5, 1e7, max_batch=2)
    scripts = load_scripts([FIXTURES / "tau-bench-gpt4o-airline"], 2, 0, sim.tokenizer, 240)
    engine = TeacherForcedServer(sim, {s.session_id: s for s in scripts})
    config = ServerConfig(model_id="sim", tool_call_parser="json", enable_speculation=False,
                          learn_patterns=False)
    with BackgroundServer(create_app(engine, config)) as server:
        yield server, scripts


def test_clients_make_exactly_the_recorded_calls(setup):
    server, scripts = setup
    latency = LatencyModel(seed=0, overrides=FAST)
    for script in scripts:
        record = run_client(server.url, "sim", script, offered_tools(script, scripts), latency,
                            script.session_id)
        assert record.calls == [canonical_call(t.call.name, t.call.arguments)
                                for t in script.calls if t.call is not None]
        assert record.turns == sum(len(run.turns) for run in script.runs)
        assert record.tct_s > record.waited_s > 0.0


def test_a_request_without_a_known_session_is_refused(setup):
    server, _scripts = setup
    body = {"model": "sim", "messages": [{"role": "user", "content": "Hi"}]}
    unnamed = httpx.post(server.url + "/v1/chat/completions", json=body)
    assert unnamed.status_code == 400 and "prompt_cache_key" in unnamed.json()["error"]["message"]
    unknown = httpx.post(server.url + "/v1/chat/completions",
                         json=dict(body, prompt_cache_key="not-a-recorded-session"))
    assert unknown.status_code == 400
    assert "no recorded turn left" in unknown.json()["error"]["message"]


def test_a_session_past_its_script_is_refused(tmp_path_factory):
    sim = SimulatedEngine(str(shared_tiny_folder(tmp_path_factory)), 1e5, 1e7)
    scripts = load_scripts([FIXTURES / "tau-bench-gpt4o-airline"], 1, 0, sim.tokenizer, 240)
    engine = TeacherForcedServer(sim, {"s": scripts[0]})
    turns = sum(len(run.turns) for run in scripts[0].runs)
    ids = sim.chat_prompt([{"role": "user", "content": "Hi"}])
    from paste.engine.request import GenerationParams

    for _ in range(turns):
        engine.submit_turn("s", ids, GenerationParams()).result()
    with pytest.raises(ValueError, match="no recorded turn left for session 's'"):
        engine.submit_turn("s", ids, GenerationParams())
