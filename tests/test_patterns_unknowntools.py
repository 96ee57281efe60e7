"""Tools unknown to training (unknowntools.py): the leave-one-group-out rate, the offered
distribution's exact masses, the Predictor ranking an unknown offered tool by its name and
predicting its argument-free call, persistence, and the cross-validation seeing the same."""

from pathlib import Path

import pytest

from paste.patterns.cfselect import select_config, session_events
from paste.patterns.controlflow import END, ControlFlowModel
from paste.patterns.loaders import load_folder
from paste.patterns.loaders.openai_messages import tool_params
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.state import SessionState
from paste.patterns.store import PatternStore
from paste.patterns.trace import Step, ToolCall, Trace
from paste.patterns.unknowntools import (
    UnknownTools,
    offered_distribution,
    offered_tokens,
    tool_name,
)

FIXTURES = Path(__file__).resolve().parent / "data" / "traces_fixtures"


def _trace(sid: str, calls: list[tuple[str, dict]], tools: set[str] | None = None,
           group: str = "", text: str = "please help") -> Trace:
    steps = [Step(role="user", text=text)]
    steps += [Step(role="tool", call=ToolCall(n, a), output="ok") for n, a in calls]
    return Trace(sid, "fake", steps, group=group,
                 tools=frozenset(tools) if tools is not None else None)


def test_rate_counts_calls_of_tools_no_other_group_offered_or_called():
    unknown = UnknownTools()
    unknown.observe(_trace("s1", [("shared", {"q": 1}), ("only1", {})], {"shared", "only1"}))
    unknown.observe(_trace("s2", [("shared", {}), ("only2", {"x": 2}), ("only2", {})],
                           {"shared", "only2", "offered_elsewhere"}))
    unknown.observe(_trace("s3", [("offered_elsewhere", {})], {"offered_elsewhere"}))
    # 6 calls; only1 (1, no arguments) and only2 (2, one without) are of one group's tools;
    # offered_elsewhere was offered by s2, so its call in s3 is of a known tool
    assert unknown.rates() == (pytest.approx(3 / 6), pytest.approx(2 / 3))
    assert unknown.known("offered_elsewhere") and not unknown.known("never")
    back = UnknownTools.from_json(unknown.to_json())
    assert back.rates() == unknown.rates() and back.tool_groups == unknown.tool_groups


def test_sessions_of_one_group_share_their_tools():
    unknown = UnknownTools()
    unknown.observe(_trace("a", [("t", {})], group="g"))
    unknown.observe(_trace("b", [("t", {})], group="g"))
    unknown.observe(_trace("c", [("u", {"k": 1})], group="h"))
    unknown.observe(_trace("d", [("u", {"k": 1})], group="i"))
    assert unknown.rates() == (0.5, 1.0)  # t: 2 calls, task group g alone: (2 + 1) / (4 + 2)
    assert UnknownTools().rates() == (0.0, 0.0)
    alone = UnknownTools()  # every call of its own group's tool: smoothed below 1, so the
    alone.observe(_trace("a", [("t", {"k": 1})]))  # seen tools keep some mass
    assert alone.rates() == (pytest.approx(2 / 3), 0.0)


def test_offered_tokens_split_seen_kinds_from_unknown_tools():
    vocab = ["a", "a!", "b", "bash:grep", END]
    allowed, unknown = offered_tokens(vocab, frozenset({"a", "bash", "new", "known_idle"}),
                                      {"a", "b", "bash", "known_idle"})
    assert allowed == frozenset({"a", "a!", "bash:grep", END})
    # known_idle was offered in training but never called: it is not unknown, and has no kind
    assert unknown == ("new",)
    assert tool_name("bash:grep") == "bash" and tool_name("a") == "a"


def _model() -> ControlFlowModel:
    cf = ControlFlowModel(order=1)
    for ctx, tok in [(["<s>"], "a"), (["<s>"], "a"), (["<s>"], "b"), (["<s>"], "c"),
                     (["<s>", "a"], END)]:
        cf.observe(ctx, tok)
    return cf


def test_offered_distribution_keeps_the_end_and_splits_the_call_mass():
    cf = _model()
    raw = cf.probabilities(["<s>"], frozenset({"a", "b", "c", END}))
    p_end = raw[END]
    assert p_end > 0.0
    got = dict(offered_distribution(cf, ["<s>"], frozenset({"a", END}), ("u1", "u2"), 0.4))
    assert got[END] == pytest.approx(p_end)  # not inflated by the tools not offered
    assert got["a"] == pytest.approx((1 - p_end) * 0.6)
    assert got["u1"] == got["u2"] == pytest.approx((1 - p_end) * 0.2)
    # no unknown tool: the offered kinds take the whole call mass, in proportion
    both = dict(offered_distribution(cf, ["<s>"], frozenset({"a", "b", END}), (), 0.4))
    assert both["a"] / both["b"] == pytest.approx(raw["a"] / raw["b"])
    assert both["a"] + both["b"] == pytest.approx(1 - p_end)
    # no seen kind offered: the unknown tools take all of it, whatever the rate
    only = dict(offered_distribution(cf, ["<s>"], frozenset({END}), ("u",), 0.1))
    assert only["u"] == pytest.approx(1 - p_end)


def _store_with_unknown_tools() -> PatternStore:
    train = [
        _trace(f"s{i}", [(f"tool{i}_lookup", {}), ("finish_up", {"ok": True})],
               {f"tool{i}_lookup", "finish_up"}) for i in range(6)
    ]
    return mine(train, calibrate=False)


def test_predictor_ranks_the_unknown_tool_the_message_names_and_predicts_its_call():
    store = _store_with_unknown_tools()
    rate, empty = store.unknown_tools.rates()
    assert (rate, empty) == (0.5, 1.0)  # every toolN_lookup call is its group's own tool
    store.name_weight = 1.0  # whatever the cross-validation chose on these six sessions
    predictor = Predictor(store)
    tools = frozenset({"weather_forecast", "stock_quote", "finish_up"})
    state = SessionState(tools=tools)
    state.add_user("what is the weather forecast for tomorrow")
    ranking = [k for k, _p in predictor.kind_ranking(state)]
    assert set(ranking) == tools
    assert ranking[0] == "weather_forecast"  # named by the message: 'weather', 'forec'
    preds = {p.canonical: p for p in predictor.predict(state, 5)}
    dist = dict(predictor.distribution(state))
    assert preds["weather_forecast{}"].probability == pytest.approx(dist["weather_forecast"])
    assert preds["weather_forecast{}"].arguments == {}


def test_without_offered_tools_nothing_unknown_is_predicted():
    predictor = Predictor(_store_with_unknown_tools())
    state = SessionState()
    state.add_user("what is the weather forecast for tomorrow")
    assert all(p.name.startswith("tool") or p.name == "finish_up"
               for p in predictor.predict(state, 5))


def test_unknown_tool_counts_survive_save_and_load(tmp_path: Path):
    store = _store_with_unknown_tools()
    store.save(tmp_path / "s.json")
    back = PatternStore.load(tmp_path / "s.json")
    assert back.unknown_tools.rates() == store.unknown_tools.rates()
    assert back.unknown_tools.tool_groups == store.unknown_tools.tool_groups


def test_cross_validation_scores_the_offered_distribution():
    # each session calls its own tool, named in the message; only the offered list and the
    # unknown-tool mass can make a held-out session's tool the top prediction
    sessions, offered = [], []
    for i in range(8):
        steps = [Step(role="user", text=f"run the {w} job")
                 for w in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
                           "golf", "hotel"][i:i + 1]]
        name = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"][i]
        steps.append(Step(role="tool", call=ToolCall(f"{name}_job", {}), output="ok"))
        sessions.append(session_events(steps))
        offered.append(frozenset({f"{name}_job", "alpha_job"}))
    # without the offered lists nothing is predictable: the defaults (no weights) win ties
    assert select_config(sessions)[3:] == (0.0, 0.0, 0.0)
    # with them and a rate, the name overlap picks each session's own job: a name weight
    order, user_turns, average, text_w, name_w, _doc_w = select_config(sessions, offered, 0.5)
    assert name_w > 0.0


def test_tool_params_reads_required_parameters_of_openai_and_legacy_lists():
    raw = [
        {"type": "function", "function": {"name": "track", "parameters": {
            "type": "object", "properties": {"number": {"type": "string"}},
            "required": ["number"]}}},
        {"name": "ping", "parameters": {"type": "object", "properties": {}}},
        {"name": "no_schema"},
        {"name": "bad", "parameters": {"required": "number"}},
        "just_a_name",
    ]
    assert tool_params(raw) == {"track": ("number",), "ping": ()}
    assert tool_params(None) is None and tool_params({"track": 1}) is None


def test_toolbench_sessions_carry_their_tools_required_parameters():
    traces = load_folder(FIXTURES / "toolbench-data-example").traces
    trace = {t.session_id: t for t in traces}["G2_answer/10_ChatGPT_DFS_woFilter_w2.json"]
    assert trace.params is not None and set(trace.params) == set(trace.tools or ())
    assert trace.params["latest_for_suivi_colis"] == ("colisid",)
    assert trace.params["health_for_suivi_colis"] == ()


def _tracking_trace(i: int, params: bool = True) -> Trace:
    number = f"RB{41345 + i}SG"
    tool = f"carrier{i}_track"
    steps = [Step(role="user", text=f"Where is my parcel {number}? Thanks"),
             Step(role="tool", call=ToolCall(tool, {"number": number}), output="in transit")]
    return Trace(f"t{i}", "fake", steps, tools=frozenset({tool}),
                 params={tool: ("number",)} if params else None)


def test_single_parameter_calls_of_unknown_tools_measure_each_user_locator():
    store = mine([_tracking_trace(i) for i in range(5)], calibrate=False)
    unknown = store.unknown_tools
    # five calls, each of its own group's tool, each exactly {number: the message's ident}
    assert unknown.locators()[0] == ("s:ident:0", pytest.approx(5 / 6))
    assert all(loc != "text" for loc, _p in unknown.locators())  # never the argument
    back = UnknownTools.from_json(unknown.to_json())
    assert back.locators() == unknown.locators()
    # without schemas nothing is measured
    assert mine([_tracking_trace(i, False) for i in range(5)],
                calibrate=False).unknown_tools.locators() == []


def test_predictor_fills_the_one_required_parameter_of_an_unknown_tool():
    store = mine([_tracking_trace(i) for i in range(5)], calibrate=False)
    predictor = Predictor(store)
    tools = frozenset({"new_track", "new_two", "new_free"})
    state = SessionState(tools=tools, params={"new_track": ("number",),
                                              "new_two": ("a", "b"), "new_free": ()})
    state.add_user("Where is my parcel ZX99812LT? Thanks")
    dist = dict(predictor.distribution(state))
    preds = {p.canonical: p for p in predictor.predict(state, 5)}
    want = 'new_track{"number":"ZX99812LT"}'
    assert preds[want].probability == pytest.approx(dist["new_track"] * 5 / 6)
    assert preds[want].arguments == {"number": "ZX99812LT"}
    _rate, empty = store.unknown_tools.rates()
    assert empty == 0.0  # no training call of an unknown tool lacked arguments
    assert not any(p.name in ("new_two", "new_free") for p in preds.values())
    # the schema unknown: only the argument-free call, never a guessed parameter name
    state.params = None
    assert all(p.arguments == {} for p in predictor.predict(state, 5))


def test_save_load_keeps_unknown_tool_predictions(tmp_path: Path):
    store = mine([_tracking_trace(i) for i in range(5)], calibrate=False)
    store.save(tmp_path / "s.json")
    back = PatternStore.load(tmp_path / "s.json")
    state = SessionState(tools=frozenset({"new_track", "carrier0_track"}),
                         params={"new_track": ("number",), "carrier0_track": ("number",)})
    state.add_user("Where is my parcel ZX99812LT? Thanks")
    got = Predictor(back).predict(state, 5)
    assert got == Predictor(store).predict(state, 5)
    assert 'new_track{"number":"ZX99812LT"}' in [p.canonical for p in got]
