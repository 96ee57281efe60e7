"""200 sessions at once on one engine and one tool executor: every session completes with its
exact transcript (fake tools with seeded 0-20 ms latencies reorder when sessions come back)."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from paste.session import open_session
from paste.tools import ToolExecutor, ToolRegistry
from test_session_support import FakeScriptedPolicy, call_text, shared_tiny_folder, tiny_engine

NUM_SESSIONS = 200


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    # Forced tokens make transcripts independent of attention numerics, so the fastest
    # backend of the machine ("auto": the native CPU kernel when built) is used.
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory), num_blocks=32768,
                      max_num_seqs=256, max_num_batched_tokens=4096, attention_backend="auto")
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def executor():
    reg = ToolRegistry()

    @reg.tool(effect="read_only", timeout_s=30, max_concurrency=64)
    def get(k: str, ms: int) -> str:  # short names: fewer tokens per step for 200 sessions
        """Fake lookup: sleeps ms milliseconds."""
        time.sleep(ms / 1000)
        return f"v{k}"

    ex = ToolExecutor(reg, max_workers=64)
    yield ex
    ex.shutdown()


def plan(i: int) -> tuple[list[str], list[tuple[str, int]]]:
    """Session i's script and its calls (key, delay in ms), from a seeded generator."""
    rng = random.Random(i)
    calls = [(f"{i}", rng.randint(0, 20)), (f"{i}a", rng.randint(0, 20)),
             (f"{i}b", rng.randint(0, 20))]
    parallel = json.dumps([{"name": "get", "arguments": {"k": k, "ms": d}}
                           for k, d in calls[1:]])
    script = [call_text("get", k=calls[0][0], ms=calls[0][1]), parallel, f"answer {i}"]
    return script, calls


def expected_messages(i: int) -> list[dict]:
    _, calls = plan(i)

    def call(n):
        key, delay = calls[n - 1]
        return {"id": f"call_{n}", "type": "function", "function": {
            "name": "get", "arguments": json.dumps({"k": key, "ms": delay})}}

    def result(n):
        return {"role": "tool", "tool_call_id": f"call_{n}", "name": "get",
                "content": f"v{calls[n - 1][0]}"}

    return [
        {"role": "system", "content": "C."},
        {"role": "user", "content": f"task {i}"},
        {"role": "assistant", "content": "", "tool_calls": [call(1)]},
        result(1),
        {"role": "assistant", "content": "", "tool_calls": [call(2), call(3)]},
        result(2),
        result(3),
        {"role": "assistant", "content": f"answer {i}"},
    ]


def test_200_concurrent_sessions_all_complete_with_exact_transcripts(engine, executor):
    def run(i: int):
        policy = FakeScriptedPolicy(engine, plan(i)[0])
        with open_session(engine, tools=executor.registry, system="C.",
                          turn_params=policy, executor=executor, session_id=f"c{i}") as s:
            return s.run(f"task {i}")

    with ThreadPoolExecutor(max_workers=NUM_SESSIONS) as pool:
        results = list(pool.map(run, range(NUM_SESSIONS)))
    assert [r.status for r in results] == ["completed"] * NUM_SESSIONS
    assert [r.final_text for r in results] == [f"answer {i}" for i in range(NUM_SESSIONS)]
    for i, r in enumerate(results):
        assert r.messages == expected_messages(i)
        assert r.metrics["num_turns"] == 3 and r.metrics["num_tool_errors"] == 0
        assert r.metrics["turns"][1]["num_cached_tokens"] == (
            r.metrics["turns"][0]["num_prompt_tokens"]
            + r.metrics["turns"][0]["num_output_tokens"] - 1)
    engine.generate(["x"])  # a step boundary: every end_session command has been applied
    assert engine.core.loop.num_parked == 0 and engine.core.sessions == {}
