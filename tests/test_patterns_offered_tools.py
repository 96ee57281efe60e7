"""Offered tools (Trace.tools / SessionState.tools): loaders read them, the control flow and
the predictor only consider them (their share of the calls' mass), the baseline too, and live sessions pass
their registry's tools to the predictor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paste.patterns.baseline import BigramBaseline
from paste.patterns.controlflow import END, ControlFlowModel
from paste.patterns.loaders import load_folder
from paste.patterns.loaders.bfcl import offered_tools
from paste.patterns.loaders.openai_messages import tool_names
from paste.patterns.loaders.paste_jsonl import trace_to_record, write_traces
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.state import SessionState
from paste.patterns.trace import Step, ToolCall, Trace

FIXTURES = Path(__file__).resolve().parent / "data" / "traces_fixtures"


def _cf() -> ControlFlowModel:
    m = ControlFlowModel(order=1)
    for tok in ["a"] * 6 + ["b"] * 3 + ["c"] + [END] * 2:
        m.observe(["x"], tok)
    m.observe(["y"], "c")
    return m


def test_restricted_distribution_renormalises_over_the_allowed_tokens():
    m = _cf()
    full = dict(m.distribution(["x"]))
    got = dict(m.restricted(["x"], frozenset({"b", "c", END})))
    mass = full["b"] + full["c"] + full[END]
    assert got == pytest.approx({"b": full["b"] / mass, "c": full["c"] / mass,
                                 END: full[END] / mass})
    assert m.restricted(["x"], frozenset({"never"})) == []


def test_restricted_scores_tokens_beyond_the_top_of_the_full_table():
    m = ControlFlowModel(order=1)
    for i in range(14):  # 14 continuations after "x": the full table keeps 12
        for _ in range(20 - i):
            m.observe(["x"], f"t{i:02d}")
    assert "t13" not in dict(m.distribution(["x"]))
    assert m.restricted(["x"], frozenset({"t13"})) == [("t13", pytest.approx(1.0))]


def _trace(i: int, tools: frozenset[str] | None) -> Trace:
    steps = [Step(role="user", text=f"look up item_{i}")]
    steps.append(Step(role="tool", call=ToolCall("get_item", {"id": f"item_{i}"}),
                      output=json.dumps({"owner": f"owner_{i}"})))
    steps.append(Step(role="tool", call=ToolCall("get_owner", {"id": f"owner_{i}"}),
                      output="ok"))
    return Trace(session_id=f"s{i}", source="t", steps=steps, tools=tools)


def test_predictor_predicts_only_offered_tools_with_renormalised_probabilities():
    traces = [_trace(i, None) for i in range(6)]
    traces[0].steps.insert(2, Step(role="tool", call=ToolCall("audit", {}), output="ok"))
    predictor = Predictor(mine(traces))
    state = SessionState()
    state.add_user("look up item_9")
    state.add_step(ToolCall("get_item", {"id": "item_9"}), json.dumps({"owner": "owner_9"}))
    full = dict(predictor.store.cf.distribution(state.context))
    assert {"get_owner", "audit"} <= set(full)
    state.tools = frozenset({"audit", "get_item"})
    predictor.store.text_weight = predictor.store.name_weight = 0.0  # the control flow alone
    predictor.store.tool_mix = 0.0  # (no next-tool model either: toolmodel.py has its tests)
    # <end> keeps its probability; the offered tools share the rest of it in proportion
    kept = {t: p for t, p in full.items() if t in ("audit", "get_item")}
    mass = sum(kept.values())
    want = {t: p / mass * (1.0 - full[END]) for t, p in kept.items()} | {END: full[END]}
    assert dict(predictor.distribution(state)) == pytest.approx(want)
    preds = predictor.predict(state, 5)
    assert preds and all(p.name in state.tools for p in preds)
    # after get_item only audit was ever seen among the offered tools; its empty arguments
    # carry no learned value, so one session's use is enough to emit it
    assert preds[0].canonical == "audit{}"
    state.tools = frozenset()
    assert predictor.predict(state, 5) == []
    fork = state.fork()
    assert fork.tools == frozenset()


def test_baseline_keeps_only_offered_tools_and_falls_back_to_their_unigram():
    traces = [_trace(i, None) for i in range(3)]
    base = BigramBaseline(traces)
    assert [k for k, _c in base.predict("get_item", 2)] == ["get_owner"]
    assert [k for k, _c in base.predict("get_item", 2, frozenset({"get_item"}))] == ["get_item"]
    assert base.predict("get_item", 2, frozenset({"nothing"})) == []


def test_bfcl_tools_are_the_functions_of_the_involved_classes():
    traces = load_folder(FIXTURES / "bfcl-v4-multi-turn").traces
    first = traces[0].tools
    assert first is not None and {"cd", "post_tweet", "authenticate_twitter"} <= first
    assert "send_message" not in first and "buy_stock" not in first
    assert all(c.name in t.tools for t in traces for c in t.calls)
    by_file = {"posting_api": frozenset({"post_tweet"}), "math_api": frozenset({"mean"})}
    assert offered_tools(["TwitterAPI", "MathAPI"], by_file) == frozenset({"post_tweet", "mean"})
    assert offered_tools(["TwitterAPI", "NoSuchAPI"], by_file) is None
    assert offered_tools("TwitterAPI", by_file) is None
    assert offered_tools([], by_file) is None


def test_toolbench_tools_are_the_answers_function_list():
    trace = load_folder(FIXTURES / "toolbench-data-example").traces[0]
    assert trace.tools == frozenset(
        {"Finish", "latest_news_for_currents_news", "search_for_currents_news"})


@pytest.mark.parametrize("raw, expected", [
    ([{"type": "function", "function": {"name": "a"}}, {"name": "b"}, "c"],
     frozenset({"a", "b", "c"})),
    ([], frozenset()),
    (None, None),
    ("a", None),
    ([{"type": "function", "function": {}}], None),
    ([{"name": ""}], None),
])
def test_tool_names_reads_openai_tools_functions_or_names(raw, expected):
    assert tool_names(raw) == expected


def test_paste_jsonl_round_trips_the_offered_tools(tmp_path):
    trace = _trace(1, frozenset({"get_item", "get_owner"}))
    record = trace_to_record(trace)
    assert record["tools"] == [{"type": "function", "function": {"name": "get_item"}},
                               {"type": "function", "function": {"name": "get_owner"}}]
    assert "tools" not in trace_to_record(_trace(2, None))
    write_traces([trace, _trace(2, None)], tmp_path / "s.jsonl")
    loaded = load_folder(tmp_path).traces
    assert [t.tools for t in loaded] == [frozenset({"get_item", "get_owner"}), None]


def test_restricted_with_averaged_orders_mixes_each_orders_restricted_rates():
    m = ControlFlowModel(order=2, average=True)
    for ctx, tok in [(["<s>", "a"], "b"), (["<s>", "a"], "c"), (["<s>", "b"], "c"),
                     (["<s>"], "a")]:
        m.observe(ctx, tok)
    m.build()
    allowed = frozenset({"b", "c"})
    order1 = {t: m._prob(("a",), t, {}) for t in allowed}
    order2 = {t: m._prob(("<s>", "a"), t, {}) for t in allowed}
    mixed = {t: (order1[t] + order2[t]) / 2 for t in allowed}
    total = sum(mixed.values())
    assert dict(m.restricted(["<s>", "a"], allowed)) == pytest.approx(
        {t: p / total for t, p in mixed.items()})
