"""Coding workload (paste.workloads): the scripted coding agent in live paste sessions."""

from __future__ import annotations

from paste.workloads.environment import LiveEnvironment
from paste.workloads.repo import MUTATIONS, CodingTask
from paste.workloads.tasks import LiveTask
from test_session_support import shared_tiny_folder
from test_workloads_support import run_one, sim_engine


def test_coding_agent_session_exact_calls_serial_and_paste(tmp_path_factory, tmp_path):
    """A probe task in serial mode (training traces), then paste mode with the predictor mined
    on them: the same calls and transcript, and no side_effect tool ever ran speculatively."""
    from paste.workloads.live import mine_predictors

    engine = sim_engine(shared_tiny_folder(tmp_path_factory))
    task = LiveTask("coding", CodingTask("c-1", 2, True, False))
    with LiveEnvironment(["coding"]) as env:
        serial = run_one(engine, env, task, trace_dir=tmp_path)
        predictors = mine_predictors(tmp_path, ["coding"], min_groups=1)
        paste = run_one(engine, env, task, "paste", predictors)
    m = MUTATIONS[2]
    expected = [
        ("grep", {"pattern": r"def top_words\b"}),
        ("view", {"path": "textkit/words.py", "start": 19, "end": 33}),
        ("run_python", {"code": m.probe}),
        ("edit", {"path": "textkit/words.py", "line": 22, "old": m.bad, "new": m.good}),
        ("pytest", {"target": "tests/test_words.py"}),
    ]
    assert serial.calls["c-1"] == expected == paste.calls["c-1"]
    assert serial.answers["c-1"] == "Fixed top_words in textkit/words.py line 22. Tests: 2 passed."
    assert serial.run.sessions[0].transcript == paste.run.sessions[0].transcript
    assert "coding" in predictors
    spec = [r for r in paste.run.sessions[0].tool_runs if r.speculative]
    assert all(r.effect == "read_only" for r in spec)
