"""The next-tool model (toolmodel.py): its exact features, the mix, what fitting learns that
the control flow's counts cannot see, the cross-validated weight (on when it helps, off when
the counts already say it all), the Predictor's use of it and the store file."""

import json

import numpy as np
import pytest

from paste.patterns import mining as mining_module
from paste.patterns.cfselect import (
    TOOL_MIXES,
    gains_clearly,
    select_config,
    select_tool_mix,
    session_events,
)
from paste.patterns.controlflow import END
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.replay import replay
from paste.patterns.store import PatternStore
from paste.patterns.textevidence import message_words
from paste.patterns.toolmodel import ToolModel, features, mix
from paste.patterns.trace import Step, ToolCall, Trace


def test_features_are_the_recent_tokens_the_kinds_used_the_count_and_the_words():
    words = frozenset({"cancel", "please"})
    event, message = features(["<s>", "get_user", "<u>"], words)
    assert event == ["l1=<u>", "l2=get_user|<u>", "l3=<s>|get_user|<u>", "used=get_user",
                     "n=1", "uw=cancel", "uw=please"]  # the message is the last thing
    assert message == ["w=cancel", "w=please"]
    event, _message = features(["<s>", "search!", "search", "view", "search", "view", "grep",
                                "view"], words)
    assert event == ["l1=view", "l2=grep|view", "l3=view|grep|view", "used=grep",
                     "used=search", "used=view", "n=6"]  # failure marks dropped; n capped


def test_mix_moves_the_weighted_share_of_the_mass_on_the_models_kinds_and_keeps_the_end():
    dist = [("a", 0.5), (END, 0.3), ("b", 0.2)]
    q = {"a": 0.25, "b": 0.25, "c": 0.5}
    got = dict(mix(dist, q, 0.5))
    # the model's kinds hold 0.7: half of it (0.35) now follows Q
    assert got == pytest.approx({"a": 0.25 + 0.35 * 0.25, END: 0.3, "b": 0.1 + 0.35 * 0.25,
                                 "c": 0.35 * 0.5})
    assert [t for t, _p in mix(dist, q, 0.5)] == ["a", END, "b", "c"]  # 0.3375, 0.3, 0.1875, 0.175
    # Q renormalised over the allowed tokens; a kind the session may not call gets nothing
    got = dict(mix(dist, q, 0.5, frozenset({"a", "b", END})))
    assert got == pytest.approx({"a": 0.25 + 0.175, END: 0.3, "b": 0.1 + 0.175})
    assert mix(dist, q, 0.0) == dist
    assert mix(dist, q, 0.5, frozenset({"z"})) == dist  # no allowed kind in Q


def test_mix_leaves_a_kind_the_model_never_saw_its_control_flow_probability():
    # "new" was first called after mining (the n-gram learned it online; the model did not):
    # it keeps its 0.4, and the 0.3 the model's kinds hold is mixed among them only
    dist = [("new", 0.4), (END, 0.3), ("a", 0.2), ("b", 0.1)]
    q = {"a": 0.2, "b": 0.8}
    got = dict(mix(dist, q, 0.5))
    assert got == pytest.approx({"new": 0.4, END: 0.3, "a": 0.1 + 0.15 * 0.2,
                                 "b": 0.05 + 0.15 * 0.8})
    assert sum(got.values()) == pytest.approx(1.0)
    assert mix([("new", 0.7), (END, 0.3)], q, 0.5) == [("new", 0.7), (END, 0.3)]  # no mass on Q's


def _trace(i: int, first: str, last: str) -> Trace:
    """A session whose last call depends on its first, five identical calls earlier: beyond
    any context the control flow counts, with the same user message throughout."""
    steps = [Step(role="user", text="carry on now")]
    for name in [first] + ["noop"] * 5 + [last]:
        steps.append(Step(role="tool", call=ToolCall(name, {}), output="ok"))
    return Trace(session_id=f"s{i}", source="synthetic", steps=steps, group=f"g{i}")


def _traces() -> list[Trace]:
    return [_trace(i, first, f"after_{first}")
            for i in range(8) for first in ("alpha", "beta")]


def test_fitting_learns_what_the_session_did_long_before():
    model = ToolModel.fit([session_events(t.steps) for t in _traces()])
    assert model is not None
    assert model.kinds == ["after_alpha", "after_beta", "alpha", "beta", "noop"]
    ctx = ["<s>", "alpha"] + ["noop"] * 5
    q = model.probabilities(ctx, message_words("carry on now"))
    assert max(q, key=q.get) == "after_alpha" and q["after_alpha"] > 4 * q["after_beta"]
    mirrored = model.probabilities(["<s>", "beta"] + ["noop"] * 5, message_words("carry on now"))
    # the two cases are symmetric in the data, so are the fitted probabilities
    assert mirrored["after_beta"] == pytest.approx(q["after_alpha"])
    assert mirrored["after_alpha"] == pytest.approx(q["after_beta"])
    assert sum(q.values()) == pytest.approx(1.0)
    # one kind only: nothing to tell apart
    assert ToolModel.fit([session_events(_trace(0, "noop", "noop").steps)]) is None


def test_cross_validation_weighs_the_model_in_when_it_helps_and_out_when_it_does_not():
    traces = _traces()
    sessions = [session_events(t.steps) for t in traces]
    config = select_config(sessions)
    assert select_tool_mix(sessions, config) == TOOL_MIXES[-1]
    # one call per session, x or y whatever came before: no feature tells them apart (each
    # fold of sessions i, i + 4, ... holds two of each, as does the rest)
    coin = [session_events([Step(role="user", text="carry on now"),
                            Step(role="tool", call=ToolCall(name, {}), output="ok")])
            for name in "xxxxyyyyxxxxyyyy"]
    assert select_tool_mix(coin, select_config(coin)) == 0.0
    assert select_tool_mix(sessions[:1], config) == 0.0  # one session: no folds


def test_the_predictor_ranks_by_the_mixed_distribution():
    store = mine(_traces(), calibrate=False)
    assert store.tool_mix == TOOL_MIXES[-1] and store.tool_model is not None
    predictor = Predictor(store)
    trace = _trace(99, "beta", "after_beta")
    states = [(state.fork(), step) for state, step in replay(trace)]
    state, step = states[-1]
    assert step.call.name == "after_beta"
    ranked = predictor.kind_ranking(state)
    assert ranked[0][0] == "after_beta" and ranked[0][1] > 2 * dict(ranked)["after_alpha"]
    assert [p.name for p in predictor.predict(state, 1)] == ["after_beta"]
    # without the model the counts cannot tell the two apart
    store.tool_mix = 0.0
    plain = dict(Predictor(store).kind_ranking(state))
    assert plain["after_beta"] == pytest.approx(plain["after_alpha"])


def test_the_offered_tools_bound_the_models_share():
    store = mine(_traces(), calibrate=False)
    trace = _trace(99, "beta", "after_beta")
    trace.tools = frozenset({"alpha", "beta", "noop", "after_alpha"})  # not after_beta
    state, _step = [(s.fork(), st) for s, st in replay(trace)][-1]
    assert "after_beta" not in dict(Predictor(store).kind_ranking(state))


def test_calibration_folds_reuse_the_chosen_weight(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return select_tool_mix(*args, **kwargs)

    monkeypatch.setattr(mining_module, "select_tool_mix", counting)
    store = mine(_traces())
    assert len(calls) == 1 and store.tool_mix == TOOL_MIXES[-1]


def test_the_store_file_keeps_the_model(tmp_path):
    store = mine(_traces(), calibrate=False)
    store.save(tmp_path / "s.json")
    back = PatternStore.load(tmp_path / "s.json")
    assert back.tool_mix == store.tool_mix and back.tool_model is not None
    assert back.tool_model.kinds == store.tool_model.kinds
    ctx, words = ["<s>", "alpha"] + ["noop"] * 5, message_words("carry on now")
    got = back.tool_model.probabilities(ctx, words)
    want = store.tool_model.probabilities(ctx, words)
    assert got == want  # exactly: a loaded store predicts as the saved one
    # a store saved before the model existed loads without one
    data = json.loads((tmp_path / "s.json").read_text())
    del data["tool_model"], data["tool_mix"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = PatternStore.load(tmp_path / "old.json")
    assert old.tool_model is None and old.tool_mix == 0.0


def test_probabilities_memoise_the_message_part():
    model = ToolModel.fit([session_events(t.steps) for t in _traces()])
    assert model is not None
    memo: dict = {}
    words = message_words("carry on now")
    first = model.probabilities(["<s>", "alpha"], words, memo)
    assert list(memo) == [id(model)]
    rows = [model.vocab["w=carry"], model.vocab["w=now"]]  # the message's part, with the bias
    assert np.allclose(memo[id(model)], model.bias + model.weights[rows].sum(axis=0))
    assert model.probabilities(["<s>", "alpha"], words, memo) == first


def test_a_gain_is_clear_beyond_two_standard_errors_of_the_paired_mean():
    base = [-1.0, -1.0, -1.0, -1.0]
    # differences 0.3, 0.1, 0.3, 0.1: mean 0.2, sd 0.1155, se 0.0577: 0.2 > 0.115
    assert gains_clearly(base, [-0.7, -0.9, -0.7, -0.9])
    # differences 0.5, -0.3, 0.5, -0.3: mean 0.1, se 0.23: not clear
    assert not gains_clearly(base, [-0.5, -1.3, -0.5, -1.3])
    assert not gains_clearly(base, base)  # no gain at all
    assert not gains_clearly([-1.0], [0.0])  # one call: no spread to judge by
