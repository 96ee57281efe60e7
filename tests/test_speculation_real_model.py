"""Speculation with the real tool-capable model, a real read-only tool and the real predictor
(mined from traces of another session set): the model's call is answered from the staged
speculative result. Needs qwen2.5-coder-0.5b-instruct pulled (skipped otherwise)."""

from __future__ import annotations

import pytest

from paste.engine.request import GenerationParams
from paste.models.store import is_pulled
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.trace import Step, ToolCall, Trace
from paste.speculation import SpeculationManager, Speculator
from paste.tools import ToolExecutor, ToolRegistry

MODEL = "qwen2.5-coder-0.5b-instruct"
pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not is_pulled(MODEL), reason=f"needs `paste models pull {MODEL}`"),
]


def training_traces() -> list[Trace]:
    names = ["notes.md", "setup.py", "docs/intro.txt", "CHANGELOG.md", "src/main.c", "a.yaml"]
    return [Trace(session_id=f"s{i}", source="synthetic", tenant="acme", group=f"g{i}", steps=[
        Step(role="user", text=f"Read the file {n} with the read_file tool."),
        Step(role="tool", call=ToolCall("read_file", {"path": n}), output=f"text of {n}"),
    ]) for i, n in enumerate(names)]


def test_real_model_call_is_a_speculation_hit(tmp_path):
    from paste.engine.engine import Engine

    (tmp_path / "README.md").write_text("# demo\nhello from the test file\n")
    registry = ToolRegistry()
    runs: list[str] = []

    @registry.tool(effect="read_only", timeout_s=10)
    def read_file(path: str) -> str:
        """Read a text file.

        Args:
            path: the file to read
        """
        runs.append(path)
        return (tmp_path / path).read_text() if (tmp_path / path).is_file() else "no such file"

    predictor = Predictor(mine(training_traces(), tenant="acme"))
    engine = Engine(MODEL, num_threads=2)
    executor = ToolExecutor(registry)
    try:
        manager = SpeculationManager(registry, executor)
        speculator = Speculator(manager, lambda t: predictor if t == "acme" else None,
                                lambda: engine.core.step_time_s or 0.1)
        session = engine.open_session(tools=registry, tenant="acme", executor=executor,
                                      speculator=speculator, max_turns=1,
                                      turn_params=GenerationParams(max_tokens=40))
        result = session.run("Read the file README.md with the read_file tool.")
        session.close()
    finally:
        executor.shutdown()
        engine.shutdown()
    call = result.messages[1]["tool_calls"][0]["function"]
    assert (call["name"], call["arguments"]) == ("read_file", '{"path": "README.md"}')
    assert result.messages[2]["content"] == "# demo\nhello from the test file\n"
    spec = result.metrics["speculation"]
    assert spec["authoritative_calls"] == 1 and spec["hits"] == 1 and spec["misses"] == 0
    # No run beyond the speculative jobs: the call was answered by the speculative job (reused
    # or awaited) or by that job promoted before it started; a second job, if any, is the
    # prediction made for the next turn, unused when the session closed.
    assert 1 <= len(runs) <= spec["speculative_jobs"] and set(runs) == {"README.md"}
