"""The next-tool model's history (history.py): the exact compact form and its inverse,
typed errors for malformed sessions, the geometric refit schedule, PatternStore.update
refitting the model (a tool first called online gets its say), the store file keeping the
history, and the server fitting outside the tenant's lock."""

import json

import pytest

from paste.patterns.cfselect import TOOL_MIXES, session_events
from paste.patterns.controlflow import END
from paste.patterns.errors import PatternStoreError
from paste.patterns.history import SessionHistory, compact, expand, offered
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.replay import replay
from paste.patterns.store import PatternStore
from paste.patterns.trace import Step, ToolCall, Trace
from paste.server.predictors import TenantPredictors
from test_patterns_toolmodel import _trace, _traces


def test_compact_keeps_the_whole_context_once_and_each_message_once():
    steps = [Step(role="user", text="find the file"),
             Step(role="tool", call=ToolCall("grep", {}), output="a.py"),
             Step(role="tool", call=ToolCall("view", {}), output="x", status="error"),
             Step(role="user", text="now fix it"),
             Step(role="tool", call=ToolCall("edit", {}), output="ok")]
    events = session_events(steps)
    got = compact(events, frozenset({"view", "grep", "edit"}))
    assert got == {"tokens": ["<s>", "grep", "view!", "<u>", "edit"],
                   "messages": [["file", "find", "the"], ["fix", "now"]],
                   "calls": [[1, "grep", 0], [2, "view", 0], [4, "edit", 1]], "end": 1,
                   "tools": ["edit", "grep", "view"]}
    back = json.loads(json.dumps(got))
    assert expand(back) == [e for e in events if e[1] != END]
    assert expand(back, with_end=True) == events  # the <end> event too, for the weight's CV
    assert offered(back) == frozenset({"view", "grep", "edit"})
    assert offered(compact(events)) is None  # not recorded


def test_a_call_before_any_user_message_has_no_message():
    events = session_events([Step(role="tool", call=ToolCall("ls", {}), output="x")])
    assert compact(events)["calls"] == [[1, "ls", -1]] and compact(events)["end"] == -1
    assert expand(compact(events)) == [(["<s>"], "ls", frozenset())]


def test_malformed_sessions_are_value_errors():
    with pytest.raises(ValueError, match="not a prefix"):
        compact([(["<s>", "a"], "b", frozenset()), (["<s>", "x", "b"], END, frozenset())])
    good = {"tokens": ["<s>", "a"], "messages": [], "calls": [[1, "a", -1]], "end": -1}
    for calls in ([[3, "a", -1]], [[0, "a", -1]], [[1, "a", 0]]):
        with pytest.raises(ValueError, match="outside its session"):
            expand({**good, "calls": calls})
    with pytest.raises(ValueError, match="outside its session"):
        expand({**good, "end": 2}, with_end=True)
    assert expand(good) == [(["<s>"], "a", frozenset())]


def test_refits_are_due_once_the_history_grew_by_a_tenth():
    session = compact(session_events(_traces()[0].steps))
    history = SessionHistory([session] * 20, fitted=20)
    assert not history.due()
    history.sessions.append(session)
    assert not history.due()  # 1 of the 2 needed
    history.sessions.append(session)
    assert history.due()
    small = SessionHistory([session] * 5, fitted=5)
    small.sessions.append(session)
    assert small.due()  # at least one new session, never less


def test_the_weight_is_chosen_again_at_eight_sessions_and_then_at_each_doubling():
    session = compact(session_events(_traces()[0].steps))
    history = SessionHistory([session] * 7)
    assert not history.select_due() and not history.refresh_due(0.0)
    history.sessions.append(session)
    assert history.select_due() and history.refresh_due(0.0)
    history.selected = history.fitted = 8
    history.sessions += [session] * 7
    assert not history.select_due() and not history.refresh_due(0.0)
    assert history.refresh_due(0.5)  # a refit is due at a weight above 0 (15 >= 8 + 0.8)
    history.sessions.append(session)
    assert history.select_due()


def test_mining_keeps_the_sessions_and_their_offered_tools():
    traces = _traces()
    traces[0].tools = frozenset({"alpha", "noop", "after_alpha"})
    store = mine(traces, calibrate=False)
    assert store.tool_mix == TOOL_MIXES[-1] and store.history is not None
    history = store.history
    assert (len(history.sessions), history.fitted, history.selected) == (16, 16, 16)
    assert history.sessions[0]["tools"] == ["after_alpha", "alpha", "noop"]
    assert history.sessions[1]["tools"] is None
    assert not store.refresh_due()


def _last_state(trace):
    """The state before a replayed session's last call."""
    return [(state.fork(), step) for state, step in replay(trace)][-1][0]


def _gamma_state():
    return _last_state(_trace(99, "gamma", "after_gamma"))


def test_update_refits_the_model_so_a_tool_first_called_online_gets_its_say():
    store = mine(_traces(), calibrate=False)
    before = store.tool_model
    assert before is not None and "after_gamma" not in before.kinds
    store.update(_trace(20, "gamma", "after_gamma"))
    assert store.tool_model is before and not store.refresh_due()  # 1 of the 2 needed
    store.update(_trace(21, "gamma", "after_gamma"))
    assert store.tool_model is not before and store.history is not None
    assert store.tool_model.kinds == ["after_alpha", "after_beta", "after_gamma", "alpha",
                                      "beta", "gamma", "noop"]
    assert (len(store.history.sessions), store.history.fitted) == (18, 18)
    for i in (22, 23):
        store.update(_trace(i, "gamma", "after_gamma"))
    assert (len(store.history.sessions), store.history.fitted) == (20, 20)
    # after gamma and five noops: the refitted model knows that gamma came first
    ranked = dict(Predictor(store).kind_ranking(_gamma_state()))
    assert ranked["after_gamma"] > 1.5 * ranked["after_alpha"]
    # the same four sessions without refits: the counts alone rank after_gamma last of the
    # three (4 sessions against 8 and 8), the mined model knows nothing of it
    frozen = mine(_traces(), calibrate=False)
    for i in (20, 21, 22, 23):
        frozen.update(_trace(i, "gamma", "after_gamma"), refit=False)
    plain = dict(Predictor(frozen).kind_ranking(_gamma_state()))
    assert plain["after_gamma"] < plain["after_alpha"]


def test_update_without_refit_leaves_the_fit_to_the_caller():
    store = mine(_traces(), calibrate=False)
    before = store.tool_model
    for i in (20, 21):
        store.update(_trace(i, "gamma", "after_gamma"), refit=False)
    assert store.tool_model is before and store.refresh_due()
    fit = store.fit_online()
    assert store.tool_model is before  # computing the fit changes nothing
    assert (fit.mix, fit.fitted, fit.selected) == (TOOL_MIXES[-1], 18, 16)  # weight kept
    store.set_online(fit)
    assert store.tool_model is fit.model and not store.refresh_due()
    assert store.history is not None and store.history.fitted == 18


def test_a_store_learned_only_online_gets_the_model_once_it_has_eight_sessions():
    store = PatternStore()
    assert store.history is not None and store.tool_model is None
    for n, trace in enumerate(_traces()[:8], 1):
        store.update(trace)
        assert (store.tool_model is None) == (n < 8)
    # the eighth session: the weight chosen by cross-validation, the model fitted on all 8
    assert store.tool_mix == TOOL_MIXES[-1] and store.tool_model is not None
    assert (store.history.fitted, store.history.selected) == (8, 8)
    ranked = dict(Predictor(store).kind_ranking(_last_state(_trace(99, "beta", "after_beta"))))
    assert ranked["after_beta"] > 2 * ranked["after_alpha"]
    # without it the counts could not tell the two apart
    plain = PatternStore()
    plain.history = None
    for trace in _traces()[:8]:
        plain.update(trace)
    counts = dict(Predictor(plain).kind_ranking(_last_state(_trace(99, "beta", "after_beta"))))
    assert counts["after_beta"] == pytest.approx(counts["after_alpha"])


def test_a_weight_chosen_again_as_0_drops_the_model():
    coin = [Trace(session_id=f"c{i}", source="synthetic", group=f"g{i}",
                  steps=[Step(role="user", text="carry on now"),
                         Step(role="tool", call=ToolCall(name, {}), output="ok")])
            for i, name in enumerate("xxxxyyyy")]
    store = mine(_traces(), calibrate=False)
    assert store.tool_model is not None and store.history is not None
    store.history.sessions.clear()  # as if mined on nothing: the 8th session re-chooses
    store.history.fitted = store.history.selected = 0
    for trace in coin:
        store.update(trace)
    # eight coin sessions, no feature tells x from y: cross-validation gives weight 0
    assert (store.tool_mix, store.tool_model) == (0.0, None)
    assert store.history.selected == 8


def test_a_store_mined_at_weight_0_keeps_its_history_and_chooses_again_later():
    store = mine(_traces(), calibrate=False, tool_mix=0.0)
    assert store.tool_model is None and store.history is not None
    assert store.history.selected == 16
    store.update(_trace(20, "gamma", "after_gamma"))
    assert store.tool_model is None and not store.refresh_due()  # next at 32 sessions


def test_the_store_file_keeps_the_history(tmp_path):
    store = mine(_traces(), calibrate=False)
    store.update(_trace(20, "gamma", "after_gamma"))
    store.save(tmp_path / "s.json")
    back = PatternStore.load(tmp_path / "s.json")
    assert back.history is not None and store.history is not None
    assert back.history.sessions == store.history.sessions
    assert (len(back.history.sessions), back.history.fitted,
            back.history.selected) == (17, 16, 16)
    back.update(_trace(21, "gamma", "after_gamma"))  # goes on where the saved one stopped
    assert back.history.fitted == 18 and "after_gamma" in back.tool_model.kinds
    # older stores (no history) load, and are not refitted on the new sessions alone
    data = json.loads((tmp_path / "s.json").read_text())
    del data["history"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = PatternStore.load(tmp_path / "old.json")
    model = old.tool_model
    for i in (22, 23):
        old.update(_trace(i, "gamma", "after_gamma"))
    assert old.history is None and old.tool_model is model
    assert not old.refresh_due()
    with pytest.raises(PatternStoreError, match="keeps no session history"):
        old.fit_online()
    # a malformed history is the store's typed error, naming the file
    data["history"] = {"sessions": [{"tokens": ["<s>"], "messages": [],
                                          "calls": [[5, "a", -1]]}], "fitted": 1}
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(PatternStoreError, match="bad.json: malformed pattern store"):
        PatternStore.load(tmp_path / "bad.json")
    data["history"] = {"sessions": [], "fitted": 3}  # fitted on more than it keeps
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(PatternStoreError, match="fitted on 3 of 0 sessions"):
        PatternStore.load(tmp_path / "bad.json")


class FakeSession:
    """What TenantPredictors.learn reads from a session: its trace record."""

    def __init__(self, sid: str, first: str) -> None:
        messages: list[dict] = [{"role": "user", "content": "carry on now"}]
        for n, name in enumerate([first] + ["noop"] * 5 + [f"after_{first}"]):
            call = {"id": f"c{n}", "type": "function",
                    "function": {"name": name, "arguments": "{}"}}
            messages += [{"role": "assistant", "content": None, "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": f"c{n}", "content": "ok"}]
        messages.append({"role": "assistant", "content": "done"})
        self.record = {"session_id": sid, "tenant": "default", "messages": messages}

    def trace(self) -> dict:
        return self.record


def test_the_server_refits_the_model_from_learned_runs(tmp_path):
    mine(_traces(), calibrate=False).save(tmp_path / "mined.json")
    predictors = TenantPredictors(tmp_path / "mined.json")
    try:
        store = predictors._tenants["default"][0]
        before = store.tool_model
        for sid in ("r1", "r2", "r3", "r4"):
            future = predictors.learn(FakeSession(sid, "gamma"), 0)
            assert future is not None and future.result(60)
        assert store.tool_model is not before and "after_gamma" in store.tool_model.kinds
        assert store.history is not None and store.history.fitted == 20
        locked = predictors.predictor_for("default")
        assert locked is not None
        ranked = dict(locked.predictor.kind_ranking(_gamma_state()))
        assert ranked["after_gamma"] > 1.5 * ranked["after_alpha"]
    finally:
        predictors.close()


def test_a_new_tenant_of_the_server_gets_the_model_from_its_learned_runs():
    predictors = TenantPredictors()  # no mined store: the tenant is learned online only
    try:
        for n in range(8):
            future = predictors.learn(FakeSession(f"r{n}", ("alpha", "beta")[n % 2]), 0)
            assert future is not None and future.result(60)
            store = predictors._tenants["default"][0]
            assert (store.tool_model is None) == (n < 7)
        assert store.tool_mix == TOOL_MIXES[-1] and store.history is not None
        assert (store.history.fitted, store.history.selected) == (8, 8)
        locked = predictors.predictor_for("default")
        assert locked is not None
        ranked = dict(locked.predictor.kind_ranking(_last_state(_trace(99, "beta",
                                                                       "after_beta"))))
        assert ranked["after_beta"] > 2 * ranked["after_alpha"]
    finally:
        predictors.close()


def test_at_eight_sessions_the_configuration_is_chosen_again_and_the_counts_recounted():
    from paste.patterns.cfselect import select_config
    from paste.patterns.controlflow import ControlFlowModel

    traces = _traces()[:8]
    store = PatternStore()
    for trace in traces[:7]:
        store.update(trace)
    incremental = store.cf
    store.update(traces[7])
    events = [session_events(t.steps) for t in traces]
    config = select_config(events, [None] * 8, store.unknown_tools.rates()[0], [None] * 8)
    assert (store.cf.order, store.cf.user_turns, store.cf.average, store.text_weight,
            store.name_weight, store.doc_weight) == config
    assert store.cf is not incremental  # recounted from the kept sessions under it ...
    recount = ControlFlowModel(*config[:3])
    for session in events:
        for ctx, tok, _words in session:
            recount.observe(ctx, tok)
    assert store.cf.counts == recount.counts  # ... exactly as counting them one by one
    store.update(_trace(30, "alpha", "after_alpha"))  # and later sessions count on top
    recount.observe(["<s>"], "alpha")
    assert store.cf.counts[()]["alpha"] == recount.counts[()]["alpha"]


def test_the_configuration_is_kept_when_the_history_misses_sessions():
    store = mine(_traces(), calibrate=False)
    assert store.history is not None
    store.history.sessions.pop()  # as if one session was learned before the history began
    store.history.selected = 0  # a choice is due
    before = store.cf
    fit = store.fit_online()
    assert (fit.config, fit.cf) == (None, None) and fit.selected == 15
    store.set_online(fit)
    assert store.cf is before  # the counts stay as learned; only the weight was chosen again


def test_tool_descriptions_are_kept_once_per_tool():
    history = SessionHistory()
    events = session_events(_traces()[0].steps)
    history.add(events, frozenset({"alpha", "noop"}), {"alpha": "Start it.", "noop": "Wait."})
    history.add(events, frozenset({"alpha"}), {"alpha": "Begin it."})  # first one kept
    history.add(events)  # no offered tools recorded
    assert history.docs == {"alpha": "Start it.", "noop": "Wait."}
    assert [history.session_docs(s) for s in history.sessions] == [
        {"alpha": "Start it.", "noop": "Wait."}, {"alpha": "Start it."}, None]
    back = SessionHistory.from_json(json.loads(json.dumps(history.to_json())))
    assert back.docs == history.docs and back.sessions == history.sessions
    with pytest.raises(ValueError, match="descriptions must be strings"):
        SessionHistory.from_json({**history.to_json(), "docs": {"alpha": 3}})
