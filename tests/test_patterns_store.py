"""PatternStore mining details: iteration over a result list (relative-position rules and the
"novel" candidate order), the sign test that enables it, and save/load of every table."""

import json
from collections import Counter
from pathlib import Path

import pytest

from paste.errors import InvalidArgumentError
from paste.patterns.loaders import load_folder
from paste.patterns.mining import mine
from paste.patterns.predictor import MAX_KINDS, Predictor
from paste.patterns.replay import replay
from paste.patterns.state import SessionState
from paste.patterns.store import SEP, PatternStore, rule_str
from paste.patterns.trace import Step, ToolCall, Trace


def _user(i: int) -> dict:
    return {"user_id": f"user_{i}", "reservations": [f"R{i}A1", f"R{i}B2", f"R{i}C3"]}


def _session(i: int) -> Trace:
    """The agent reads the profile, then looks up each reservation in order."""
    steps = [Step(role="user", text=f"I am user_{i}")]
    steps.append(
        Step(
            role="tool",
            call=ToolCall("get_user", {"user_id": f"user_{i}"}),
            output=json.dumps(_user(i)),
        )
    )
    for rid in _user(i)["reservations"]:
        steps.append(
            Step(
                role="tool",
                call=ToolCall("get_reservation", {"id": rid}),
                output=json.dumps({"id": rid}),
            )
        )
    return Trace(session_id=f"s{i}", source="t", steps=steps)


def _live(looked_up: int) -> SessionState:
    state = SessionState()
    state.add_user("I am user_9")
    state.add_step(ToolCall("get_user", {"user_id": "user_9"}), json.dumps(_user(9)))
    for rid in _user(9)["reservations"][:looked_up]:
        state.add_step(ToolCall("get_reservation", {"id": rid}), json.dumps({"id": rid}))
    return state


@pytest.fixture(scope="module")
def store() -> PatternStore:
    return mine([_session(i) for i in range(8)])


def test_first_call_copies_the_user_id(store):
    state = SessionState()
    state.add_user("I am user_9")
    top = Predictor(store).predict(state, k=1)[0]
    assert (top.name, top.arguments) == ("get_user", {"user_id": "user_9"})


@pytest.mark.parametrize("looked_up, expected", [(0, "R9A1"), (1, "R9B2"), (2, "R9C3")])
def test_iteration_visits_the_next_reservation(store, looked_up, expected):
    top = Predictor(store).predict(_live(looked_up), k=1)[0]
    assert (top.name, top.arguments) == ("get_reservation", {"id": expected})


def test_save_load_keeps_predictions(store, tmp_path):
    store.name_weight = 1.0
    store.save(tmp_path / "store.json")
    back = PatternStore.load(tmp_path / "store.json")
    assert (back.text_weight, back.name_weight) == (store.text_weight, 1.0)
    for n in range(3):
        assert Predictor(back).predict(_live(n), k=5) == Predictor(store).predict(_live(n), k=5)


def test_a_store_saved_without_a_name_weight_loads_with_name_evidence_off(store, tmp_path):
    store.name_weight = 1.0
    store.save(tmp_path / "store.json")
    data = json.loads((tmp_path / "store.json").read_text())
    del data["name_weight"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert PatternStore.load(tmp_path / "old.json").name_weight == 0.0


def test_filled_templates_are_memoised_but_never_shared(store):
    predictor = Predictor(store)
    first = predictor.predict(_live(1), k=5)
    assert predictor._filled  # the calls' (arguments, canonical form) are memoised
    first[0].arguments["id"] = "changed by a caller"
    again = predictor.predict(_live(1), k=5)
    assert again == Predictor(store).predict(_live(1), k=5)  # a fresh predictor agrees
    assert again[0].arguments == {"id": "R9B2"}
    # the same arguments under another tool name are another call
    assert {canon for (name, *_rest), (_a, canon) in predictor._filled.items()
            if not canon.startswith(name + "{")} == set()


def test_novel_order_puts_already_used_values_last():
    store = PatternStore()
    hkey = f"get_reservation{SEP}tkey{SEP}0"
    store.hole_rules[hkey] = Counter(
        {rule_str(("out", "k=get_user", f"j:.reservations.#{r}")): 5 - r for r in range(3)}
    )
    state = _live(1)
    assert store.candidates(hkey, state, novelty=False) == ["R9A1", "R9B2", "R9C3"]
    assert store.candidates(hkey, state, novelty=True) == ["R9B2", "R9C3", "R9A1"]


@pytest.mark.parametrize("duel, enabled", [([9, 1], True), ([6, 2], False), ([0, 0], False)])
def test_novel_order_needs_a_clear_sign_test_win(duel, enabled):
    store = PatternStore()
    store.rank_stats["h"] = {
        "plain": [10, 1, 0, 0, 0, 0],
        "novel": [10, 9, 0, 0, 0, 0],
        "duel": duel,
    }
    assert store.uses_novelty("h") is enabled
    assert store.rank_table("h") == ([10, 9, 0, 0, 0, 0] if enabled else [10, 1, 0, 0, 0, 0])


def test_unseen_last_context_uses_the_holes_own_rule_order(store):
    hkey = next(k for k in store.hole_rules if k.startswith("get_reservation" + SEP))
    seen = {k.split(SEP)[3] for k in store.rule_stats if k.startswith(hkey + SEP)}
    assert "never_seen_tool" not in seen
    default = store.ordered_rules(hkey, "")
    # no in-context counts after that token: the same (cached) list as the hole's own order
    assert store.ordered_rules(hkey, "never_seen_tool") is default
    assert [r[3] for r in default][:1] == [r[3] for r in store.ordered_rules(hkey)][:1]


def test_allow_filter_frees_the_slots_of_tools_the_caller_would_discard(store):
    predictor = Predictor(store)
    state = _live(1)
    full = predictor.predict(state, k=5)
    assert full[0].name == "get_reservation"
    kept = predictor.predict(state, k=5, allow=lambda name: name != "get_reservation")
    assert kept and all(p.name != "get_reservation" for p in kept)
    # the remaining calls keep the probabilities of the unfiltered distribution
    others = {p.canonical: p.probability for p in full if p.name != "get_reservation"}
    assert {p.canonical: p.probability for p in kept if p.canonical in others} == others
    assert predictor.predict(state, k=5, allow=lambda name: False) == []


def test_fork_predicts_like_the_state_it_stands_for_and_stays_separate(store):
    predictor = Predictor(store)
    live = _live(1)
    fork = live.fork()
    fork.add_step(ToolCall("get_reservation", {"id": "R9B2"}), json.dumps({"id": "R9B2"}))
    assert len(live.calls) == 2 and len(fork.calls) == 3  # the original is untouched
    assert predictor.predict(fork, k=3) == predictor.predict(_live(2), k=3)
    assert predictor.predict(live, k=1)[0].arguments == {"id": "R9B2"}
    with pytest.raises(InvalidArgumentError, match="fork"):
        fork.explain("R9B2")


@pytest.mark.parametrize("tkey, expected", [
    ('[[["file_name"],["H",0,"str"]]]', True),
    ('[[["dir"],["H",0,"str"]],[["recursive"],["L",true]]]', True),
    ('[[[],["L",{}]]]', True),
    ('[[["tags"],["L",[]]],[["note"],["L",null]]]', True),
    ('[[["mode"],["L","w"]]]', False),
    ('[[["lines"],["L",5]]]', False),
    ('[[["user","id"],["H",0,"str"]]]', False),
    ('[[["command"],["T",["cat ",0]]]]', False),
])
def test_schema_only_templates_carry_no_learned_value(tkey, expected):
    from paste.patterns.templates import schema_only

    assert schema_only(tkey) is expected


def test_a_schema_only_template_is_general_after_one_group_a_literal_one_is_not():
    steps = [Step(role="user", text="show notes.txt in full")]
    steps.append(Step(role="tool", call=ToolCall("cat", {"file_name": "notes.txt"}), output="x"))
    steps.append(Step(role="tool", call=ToolCall("wc", {"file_name": "notes.txt", "mode": "w"}),
                      output="1"))
    store = mine([Trace(session_id="only", source="t", steps=steps)])
    (cat_key,) = store.templates["cat"]
    (wc_key,) = store.templates["wc"]
    assert cat_key == '[[["file_name"],["H",0,"str"]]]'
    assert store.is_general("cat", cat_key) and not store.is_general("wc", wc_key)
    state = SessionState()
    state.add_user("show todo.md in full")
    names = {p.name for p in Predictor(store).predict(state, 5)}
    assert "cat" in names and "wc" not in names  # "w" was seen in one session only


def test_hole_rank_rates_shrink_towards_the_pooled_rate():
    store = mine([_session(i) for i in range(8)])  # its own: the rank statistics are replaced
    store.rank_stats = {  # two holes: 1 instance right at rank 0; 9 of 9 at rank 1
        "a": {"plain": [1, 1, 0, 0, 0, 0], "novel": [1, 1, 0, 0, 0, 0], "duel": [0, 0]},
        "b": {"plain": [9, 0, 9, 0, 0, 0], "novel": [9, 0, 9, 0, 0, 0], "duel": [0, 0]},
    }
    rank_p = Predictor(store)._rank_p
    from paste.patterns.predictor import RANK_PRIOR as m

    pooled = [1 / 10, 9 / 10, 0.0, 0.0, 0.0]
    assert rank_p["a"] == pytest.approx([(h + m * q) / (1 + m)
                                         for h, q in zip([1, 0, 0, 0, 0], pooled, strict=True)])
    assert rank_p["b"] == pytest.approx([(h + m * q) / (9 + m)
                                         for h, q in zip([0, 9, 0, 0, 0], pooled, strict=True)])


def _poll_session(i: int, polls: int) -> Trace:
    """Start a job, poll its status `polls` times (the same call), fetch its result."""
    steps = [Step(role="user", text=f"run job_{i}")]
    steps.append(Step(role="tool", call=ToolCall("start", {"job": f"job_{i}"}), output="queued"))
    for n in range(polls):
        steps.append(Step(role="tool", call=ToolCall("status", {"job": f"job_{i}"}),
                          output="done" if n == polls - 1 else "running"))
    steps.append(Step(role="tool", call=ToolCall("fetch", {"job": f"job_{i}"}), output="42"))
    return Trace(session_id=f"p{i}", source="t", steps=steps)


def test_repeating_the_last_call_gets_its_measured_rate(tmp_path):
    store = mine([_poll_session(i, 3) for i in range(6)])
    # per session: start->status, status->status twice, status->fetch
    assert store.repeats == {"start": [6, 0], "status": [18, 12]}
    predictor = Predictor(store)
    pooled = 12 / 24
    assert predictor._repeat_p("status") == pytest.approx((12 + 2 * pooled) / (18 + 2))
    assert predictor._repeat_p("fetch") == pytest.approx(pooled)  # never followed: the pool
    state = SessionState()
    state.add_user("run job_9")
    state.add_step(ToolCall("start", {"job": "job_9"}), "queued")
    state.add_step(ToolCall("status", {"job": "job_9"}), "running")
    again = [p for p in predictor.predict(state, 5) if p.canonical == 'status{"job":"job_9"}']
    assert again and again[0].probability <= predictor._repeat_p("status") + 1e-12
    store.save(tmp_path / "store.json")
    assert PatternStore.load(tmp_path / "store.json").repeats == store.repeats


def test_a_store_that_never_saw_a_repeat_never_predicts_the_last_call_again():
    store = mine([_poll_session(i, 1) for i in range(6)])
    assert store.repeats == {"start": [6, 0], "status": [6, 0]}
    state = SessionState()
    state.add_user("run job_9")
    state.add_step(ToolCall("start", {"job": "job_9"}), "queued")
    state.add_step(ToolCall("status", {"job": "job_9"}), "done")
    preds = [p.canonical for p in Predictor(store).predict(state, 5)]
    assert 'status{"job":"job_9"}' not in preds and preds[0] == 'fetch{"job":"job_9"}'



def test_kinds_past_max_kinds_fill_a_short_top_k():
    """The MAX_KINDS most likely kinds all need a ticket number the live message lacks: the
    top-k is filled from the next kinds instead of coming back empty."""
    traces, n = [], 0
    for j in range(MAX_KINDS):
        for _ in range(3):
            traces.append(_one_call(n, f"lookup_{j}", {"ticket": f"{4000 + n}"},
                                    f"ticket {4000 + n} please"))
            n += 1
    for tool in ("help", "status"):
        traces.append(_one_call(n, tool, {}, "anything new"))
        n += 1
    predictor = Predictor(mine(traces))
    # the counts' ranking (the next-tool model learns that "anything new" asks for help or
    # status, and would rank those first: toolmodel.py has its own tests)
    predictor.store.tool_mix = 0.0
    state = SessionState()
    state.add_user("anything new")
    ranking = [kind for kind, _p in predictor.kind_ranking(state)]
    assert sorted(ranking[:MAX_KINDS]) == [f"lookup_{j}" for j in range(MAX_KINDS)]
    top = predictor.predict(state, k=5)
    assert sorted((p.name, p.arguments) for p in top) == [("help", {}), ("status", {})]
    assert predictor.predict(state, k=0) == []


def _one_call(i: int, tool: str, args: dict, text: str) -> Trace:
    return Trace(session_id=f"s{i}", source="t", steps=[
        Step(role="user", text=text),
        Step(role="tool", call=ToolCall(tool, args), output=json.dumps({"ok": True}))])


def test_top_j_of_a_top_k_is_the_top_j():
    """A caller asking more calls (the speculator asks 3x what it keeps, to drop the calls
    admission refuses) sees the same first ones: calls of kinds past the first MAX_KINDS,
    found only to fill a short top-k, rank after the first kinds' calls. On the BFCL fixture
    they used to outrank some of them: 6 of the 54 (state, j) pairs differed."""
    folder = Path(__file__).resolve().parent / "data" / "traces_fixtures" / "bfcl-v4-multi-turn"
    traces = load_folder(folder).traces
    predictor = Predictor(mine(traces))
    pairs = 0
    for trace in traces:
        for state, _step in replay(trace):
            big = [p.canonical for p in predictor.predict(state, 12)]
            for j in (1, 3, 5):
                assert [p.canonical for p in predictor.predict(state, j)] == big[:j]
                pairs += 1
    assert pairs == 54


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("num_sessions"),
    lambda d: d.update(templates=[1, 2]),
    lambda d: d.update(hole_lengths={"k": {"three": 4}}),
    lambda d: d.update(unknown_tools={"calls": {}}),
    lambda d: d["cf"].pop("counts"),
    # version 2's packed keys (storefile.py): template_keys missing or mistyped, an index of
    # no template, a key that is no index
    lambda d: d.update(template_keys="view"),
    lambda d: d.pop("template_keys"),
    lambda d: d["hole_rules"].update({"99\x1f0": {}}),
    lambda d: d["rule_stats"].update({"-1\x1f0": {}}),
    lambda d: d["template_groups"].update({"view": ["g"]}),
])
def test_a_damaged_store_file_is_a_typed_error_naming_the_file(store, tmp_path, damage):
    from paste.patterns.errors import PatternStoreError

    store.save(tmp_path / "store.json")
    data = json.loads((tmp_path / "store.json").read_text())
    damage(data)
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(PatternStoreError, match=r"bad\.json: malformed pattern store"):
        PatternStore.load(tmp_path / "bad.json")
