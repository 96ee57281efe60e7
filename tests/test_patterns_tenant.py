"""Tenant isolation and generalisation: a store predicts data-flow values from the live
session and constants only when several task groups used them; tenants never mix."""

import pytest

from paste.patterns.errors import TenantMismatchError
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.state import SessionState
from paste.patterns.store import PatternStore
from paste.patterns.trace import Step, ToolCall, Trace


def _session(i: int, tenant: str, extra: dict) -> Trace:
    out = f"https://{tenant}.example/{i}/a https://{tenant}.example/{i}/b"
    return Trace(
        session_id=f"{tenant}-{i}",
        source="t",
        tenant=tenant,
        steps=[
            Step(role="user", text=f"question {i}"),
            Step(role="tool", call=ToolCall("search", {"query": f"q{tenant}{i}"}), output=out),
            Step(
                role="tool",
                call=ToolCall("visit", {"url": f"https://{tenant}.example/{i}/a", **extra}),
                output="page",
            ),
        ],
    )


def _live(tenant: str) -> SessionState:
    state = SessionState()
    state.add_user("new question")
    state.add_step(ToolCall("search", {"query": "new"}), f"https://{tenant}.example/new/a and more")
    return state


A = [_session(i, "a", {"api_key": "SECRET-A"}) for i in range(3)]
B = [_session(i, "b", {}) for i in range(3)]


def test_prediction_derives_url_from_live_output_with_exact_probability():
    # the control flow alone (tool_mix=0.0, no next-tool model): its probability by hand
    (top,) = Predictor(mine(A, tenant="a", tool_mix=0.0)).predict(_live("a"), k=3)
    assert (top.name, top.arguments) == (
        "visit",
        {"url": "https://a.example/new/a", "api_key": "SECRET-A"},
    )
    # cross-validation ties every order, so the shortest (1) is chosen:
    # P(visit | search) = (3 + 1 * P(visit)) / (3 + 1), P(visit) = 3/9; template share 1;
    # the hole's rank-0 candidate was right 3 times out of 3
    assert top.probability == pytest.approx((3 + 1 / 3) / 4)
    assert top.canonical == 'visit{"api_key":"SECRET-A","url":"https://a.example/new/a"}'


def test_tenant_b_never_receives_tenant_a_values():
    predictor_b = Predictor(mine(B, tenant="b"))
    for state in (_live("b"), _live("a"), SessionState()):
        for p in predictor_b.predict(state, k=5):
            assert "SECRET-A" not in p.canonical
            assert "a.example" not in p.canonical or "a.example" in str(state.reverse)
    (top,) = predictor_b.predict(_live("b"), k=5)
    assert top.arguments == {"url": "https://b.example/new/a"}


def test_store_refuses_another_tenants_trace():
    store = mine(A, tenant="a")
    with pytest.raises(TenantMismatchError):
        store.update(B[0])
    with pytest.raises(TenantMismatchError):
        mine(A + B[:1], tenant="a")


def test_constants_need_min_groups_task_groups():
    assert Predictor(mine(A, tenant="a", min_groups=4)).predict(_live("a"), k=5) == []
    # three sessions of the SAME task group count as one group
    same_task = [_session(i, "a", {"api_key": "SECRET-A"}) for i in range(3)]
    for t in same_task:
        t.group = "task-1"
    assert Predictor(mine(same_task, tenant="a")).predict(_live("a"), k=5) == []


def test_query_text_of_training_sessions_is_never_emitted():
    predictor = Predictor(mine(A, tenant="a"))
    state = SessionState()
    state.add_user("new question")
    assert predictor.predict(state, k=5) == []  # search queries were all session-specific


def test_online_update_and_save_load(tmp_path):
    store = PatternStore("a")
    for t in A[:2]:
        store.update(t)
    assert Predictor(store).predict(_live("a"), k=5) == []  # only two groups so far
    store.update(A[2])
    got = Predictor(store).predict(_live("a"), k=5)
    assert [p.arguments["url"] for p in got] == ["https://a.example/new/a"]
    store.save(tmp_path / "a.json")
    back = PatternStore.load(tmp_path / "a.json")
    assert Predictor(back).predict(_live("a"), k=5) == got
