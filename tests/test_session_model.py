"""A session on the real default model with a real calculator tool. The model may or may not
call the tool; the session must end (completed, or max_turns if it keeps calling) with a
well-formed transcript: every call answered once, in order, and a final answer if completed."""

from __future__ import annotations

import ast
import operator

import pytest

from paste.engine.request import GenerationParams
from paste.models.registry import DEFAULT_MODEL
from paste.models.store import is_pulled
from paste.session import Final
from paste.tools import ToolExecutor, ToolRegistry

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not is_pulled(DEFAULT_MODEL), reason=f"{DEFAULT_MODEL} is not pulled"),
]

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg}


def calculate(expression: str) -> float:
    """Evaluate an arithmetic expression (numbers, + - * / ** and parentheses).

    Args:
        expression: for example "12 * (3 + 4)".
    """

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.operand))
        raise ValueError(f"unsupported expression: {ast.unparse(node)}")

    return value(ast.parse(expression, mode="eval").body)


def test_calculate_is_a_real_calculator():
    assert calculate("12 * (3 + 4) - 2 ** 3") == 76
    with pytest.raises(ValueError, match="unsupported expression: __import__"):
        calculate("__import__('os')")


def test_real_model_session_ends_with_a_well_formed_transcript(tmp_path):
    from paste.engine.engine import Engine

    registry = ToolRegistry()
    registry.add_function(calculate, effect="pure", timeout_s=5)
    engine = Engine(DEFAULT_MODEL, num_threads=1)
    try:
        with ToolExecutor(registry) as executor:
            session = engine.open_session(
                tools=registry, system="You are a helpful assistant.", tenant="t",
                max_turns=3, executor=executor, turn_params=GenerationParams(max_tokens=24))
            events = list(session.stream("What is 12 * (3 + 4)? Use the calculate tool."))
            session.write_trace(tmp_path / "real.jsonl")
            session.close()
    finally:
        engine.shutdown()
    assert session.parser == "json"
    final = events[-1]
    assert isinstance(final, Final) and final.status in ("completed", "max_turns")
    messages = session.messages
    assert messages[:2] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is 12 * (3 + 4)? Use the calculate tool."}]
    pending: list[str] = []
    for message in messages[2:]:
        if message["role"] == "assistant":
            assert pending == []  # every earlier call was answered before the model went on
            pending = [c["id"] for c in message.get("tool_calls", [])]
        else:
            assert message["role"] == "tool"
            if pending:
                assert message["tool_call_id"] == pending.pop(0)
    assert pending == []
    num_turns = sum(m["role"] == "assistant" for m in messages)
    assert session.metrics()["num_turns"] == num_turns
    if final.status == "completed":
        assert messages[-1] == {"role": "assistant", "content": final.text}
    else:
        assert num_turns == 3
    assert (tmp_path / "real.jsonl").read_text().count("\n") == 1
