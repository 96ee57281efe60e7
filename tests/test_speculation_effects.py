"""Per-call effect classes (ToolSpec.effect_for / call_effect): a tool that mixes read-only and
side-effecting calls (the replay's `bash`) is gated call by call in admission, in the
executor's speculative gate, and in the freshness epoch of SpeculationManager.resolve."""

from __future__ import annotations

import pytest

from paste.bench.script import build_script
from paste.bench.tools import ReplayTools
from paste.errors import InvalidArgumentError
from paste.parsing import canonical_call
from paste.patterns.trace import Step, ToolCall, Trace
from paste.speculation.admission import AdmissionPolicy, Candidate
from paste.speculation.budget import SpeculationBudget
from paste.speculation.config import SpeculationConfig
from paste.speculation.manager import SpeculationManager
from paste.tools import ToolExecutor, ToolJob, ToolRegistry
from paste.tools.errors import ToolDefinitionError
from paste.tools.spec import EffectClass

WAIT_S = 10.0

CAT = {"command": "cat f.py"}
SED = {"command": "sed -i 's/a/b/' f.py"}
RM = {"command": "rm x.py"}

# The fake tools here take microseconds; admission must see the estimates the candidates
# carry (learned latencies have their own tests: test_speculation_latency.py).
def fixed(**options):
    return SpeculationConfig(learn_latency=False, **options)


def cand(name, args, p=0.9, lat=1.0, until=1.0):
    return Candidate(name, args, canonical_call(name, args), p, lat, until)


@pytest.fixture
def replay():
    """A replayed coding session: cat f.py, sed -i on f.py, cat f.py again (instant tools)."""
    calls = [("bash", CAT, "a = 1"), ("bash", SED, ""), ("bash", CAT, "b = 1")]
    trace = Trace("t1", "src", [Step("user", "fix it")]
                  + [Step("tool", call=ToolCall(n, a), output=o) for n, a, o in calls])
    tools = ReplayTools(build_script(trace), None)
    position = [0]
    tools.position = lambda: position[0]
    executor = ToolExecutor(tools.registry)
    yield tools, executor, position
    executor.shutdown()


def emit(m, call_id, args):
    return m.resolve("t1", call_id, "bash", args, canonical_call("bash", args))


def test_replay_bash_classifies_each_call(replay):
    tools, _, _ = replay
    spec = tools.registry.get("bash")
    assert spec.effect is EffectClass.READ_ONLY
    assert [spec.call_effect(a) for a in (CAT, SED, RM, {"command": "pytest -q"})] == [
        EffectClass.READ_ONLY, EffectClass.SIDE_EFFECT, EffectClass.SIDE_EFFECT,
        EffectClass.READ_ONLY,
    ]


def test_staged_cat_is_not_used_after_an_authoritative_sed_i(replay):
    tools, executor, position = replay
    m = SpeculationManager(tools.registry, executor, fixed())
    position[0] = 1  # the first `cat f.py` is committed; the model will edit, then look again
    assert m.speculate("t1", [cand("bash", CAT)]) == [canonical_call("bash", CAT)]
    staged = m.staging.jobs("t1")[0]
    assert staged.future.result(WAIT_S).ok
    edit = emit(m, "call-1", SED)
    assert edit.kind == "miss"
    assert edit.result(WAIT_S).ok
    assert m.staging.jobs("t1") == []
    position[0] = 2
    look = emit(m, "call-2", CAT)
    assert look.kind == "miss"
    out = look.result(WAIT_S)
    assert (out.call_id, out.ok, out.content) == ("call-2", True, "b = 1")
    counts = m.metrics.snapshot("t1")
    assert (counts["stale_discarded"], counts["hits"], counts["misses"],
            counts["authoritative_calls"], counts["speculative_jobs"]) == (1, 0, 2, 2, 1)
    assert [(r.canonical, r.effect, r.speculative) for r in tools.runs] == [
        (canonical_call("bash", CAT), "read_only", True),
        (canonical_call("bash", SED), "side_effect", False),
        (canonical_call("bash", CAT), "read_only", False),  # the tool ran again
    ]


def test_staged_cat_is_reused_after_an_authoritative_read_only_command(replay):
    tools, executor, position = replay
    m = SpeculationManager(tools.registry, executor, fixed())
    position[0] = 1
    m.speculate("t1", [cand("bash", CAT)])
    m.staging.jobs("t1")[0].future.result(WAIT_S)
    emit(m, "call-1", {"command": "ls"}).result(WAIT_S)  # read_only: the epoch stays
    look = emit(m, "call-2", CAT)
    assert look.kind == "reused"
    assert look.result(WAIT_S).content == "b = 1"
    assert m.metrics.snapshot("t1")["stale_discarded"] == 0


def test_bash_rm_is_never_admitted_speculatively(replay):
    tools, executor, _ = replay
    m = SpeculationManager(tools.registry, executor, fixed())
    assert m.speculate("t1", [cand("bash", RM), cand("bash", SED)]) == []
    counts = m.metrics.snapshot("t1")
    assert (counts["speculative_jobs"], counts["rejected"]) == (0, {"effect": 2})
    assert m.budget.in_use == 0
    assert tools.runs == []
    # The executor's own gate refuses it too, whatever reaches it.
    res = executor.submit(ToolJob("spec-x", "bash", RM, speculative=True)).result(WAIT_S)
    assert (res.ok, res.error_kind) == (False, "not_speculable")
    assert tools.runs == []


@pytest.fixture
def shell():
    """A tool with no sandbox and no policy: only effect_for separates its calls."""
    reg = ToolRegistry()
    ran: list[str] = []

    def classify(args):
        return "read_only" if args["cmd"].startswith("cat ") else EffectClass.SIDE_EFFECT

    @reg.tool(effect="read_only", effect_for=classify, timeout_s=WAIT_S)
    def sh(cmd: str) -> str:
        ran.append(cmd)
        return f"ran {cmd}"

    executor = ToolExecutor(reg)
    yield reg, executor, ran
    executor.shutdown()


def test_executor_gate_uses_the_call_effect(shell):
    reg, executor, ran = shell
    refused = executor.submit(ToolJob("s1", "sh", {"cmd": "rm x"}, speculative=True))
    allowed = executor.submit(ToolJob("s2", "sh", {"cmd": "cat x"}, speculative=True))
    assert (refused.result(WAIT_S).error_kind, allowed.result(WAIT_S).content) == (
        "not_speculable", "ran cat x")
    assert ran == ["cat x"]
    assert reg.get("sh").may_speculate({"cmd": "rm x"}) is False


def test_admission_uses_the_call_effect(shell):
    reg, _, _ = shell
    policy = AdmissionPolicy(SpeculationBudget(4), cpu_slots=1)
    spec = reg.get("sh")
    cat, rm = cand("sh", {"cmd": "cat x"}), cand("sh", {"cmd": "rm x"})
    assert [policy.decide(c, spec, 0.0).reason for c in (cat, rm)] == ["admitted", "effect"]
    assert policy.budget.in_use == 1


def test_resolve_bumps_the_epoch_only_for_side_effecting_calls(shell):
    reg, executor, _ = shell
    m = SpeculationManager(reg, executor, fixed())
    m.resolve("s", "c1", "sh", {"cmd": "cat x"}, canonical_call("sh", {"cmd": "cat x"}))
    assert m.staging.epoch("s") == 0
    m.resolve("s", "c2", "sh", {"cmd": "rm x"}, canonical_call("sh", {"cmd": "rm x"}))
    assert m.staging.epoch("s") == 1


def test_a_failing_or_invalid_classifier_means_side_effect():
    reg = ToolRegistry()

    def broken(args):
        raise KeyError("cmd")

    reg.add_function(lambda cmd: cmd, name="a", effect="read_only", effect_for=broken)
    reg.add_function(lambda cmd: cmd, name="b", effect="read_only", effect_for=lambda a: "bogus")
    reg.add_function(lambda cmd: cmd, name="c", effect="pure")
    assert [reg.get(n).call_effect({"cmd": "cat"}) for n in "abc"] == [
        EffectClass.SIDE_EFFECT, EffectClass.SIDE_EFFECT, EffectClass.PURE]
    assert reg.get("a").may_speculate({"cmd": "cat"}) is False


def test_registry_rejects_bad_effect_for_and_cpu_bound():
    reg = ToolRegistry()
    with pytest.raises(ToolDefinitionError, match="effect_for must be callable"):
        reg.add_function(lambda: 1, name="x", effect_for="read_only")  # type: ignore[arg-type]
    with pytest.raises(ToolDefinitionError, match="cpu_bound must be a bool"):
        reg.add_function(lambda: 1, name="y", cpu_bound=1)  # type: ignore[arg-type]
    assert len(reg) == 0
    assert issubclass(ToolDefinitionError, ValueError)


def replay_tools(transactions: str, calls=None) -> ReplayTools:
    calls = calls or [("bash", CAT, "a = 1"), ("bash", SED, "edited"), ("bash", CAT, "b = 1")]
    trace = Trace("t1", "src", [Step("user", "fix it")]
                  + [Step("tool", call=ToolCall(n, a), output=o) for n, a, o in calls])
    return ReplayTools(build_script(trace), None, transactions=transactions)


@pytest.fixture
def worktree():
    """Replay tools with worktree transactions, the first `cat f.py` committed, and a manager."""
    tools = replay_tools("worktree")
    tools.position = lambda: 1
    executor = ToolExecutor(tools.registry)
    yield tools, SpeculationManager(tools.registry, executor, fixed(max_waste_ratio=None))
    executor.shutdown()


def test_worktree_transaction_stages_sed_i_and_commits_it_on_a_hit(worktree):
    tools, m = worktree
    assert m.speculate("t1", [cand("bash", SED)]) == [canonical_call("bash", SED)]
    assert m.staging.jobs("t1")[0].future.result(WAIT_S).content == "edited"
    sed = canonical_call("bash", SED)
    assert [(r.canonical, r.speculative, r.commit) for r in tools.runs] == [
        (sed, True, False)]  # the private run only: nothing committed yet
    edit = emit(m, "call-1", SED)
    assert edit.kind == "reused"
    out = edit.result(WAIT_S)
    assert (out.call_id, out.ok, out.content) == ("call-1", True, "edited")
    assert [(r.canonical, r.effect, r.speculative, r.commit) for r in tools.runs] == [
        (sed, "side_effect", True, False), (sed, "side_effect", False, True)]
    counts = m.metrics.snapshot("t1")
    assert (counts["committed"], counts["hits_reused"], counts["misses"]) == (1, 1, 0)


def test_a_missed_worktree_transaction_is_never_committed(worktree):
    tools, m = worktree
    m.speculate("t1", [cand("bash", RM)])
    m.staging.jobs("t1")[0].future.result(WAIT_S)
    assert emit(m, "call-1", SED).result(WAIT_S).content == "edited"
    assert [(r.canonical, r.speculative, r.commit) for r in tools.runs] == [
        (canonical_call("bash", RM), True, False), (canonical_call("bash", SED), False, False)]
    assert m.metrics.snapshot("t1")["committed"] == 0


@pytest.mark.parametrize("transactions,sed,rm,pip,submit", [
    ("none", False, False, False, False),
    ("worktree", True, True, False, False),
    ("all", True, True, False, False),
])
def test_which_bash_commands_may_run_as_transactions(transactions, sed, rm, pip, submit):
    spec = replay_tools(transactions).registry.get("bash")
    assert (spec.transaction is not None) == (transactions != "none")
    assert spec.may_speculate(CAT)
    assert [spec.may_speculate(a) for a in (SED, RM, {"command": "pip install -e ."},
                                            {"command": "submit"})] == [sed, rm, pip, submit]


def test_function_calling_tools_get_transactions_only_with_all():
    calls = [("book_reservation", {"flight": "HAT1"}, "booked"),
             ("get_reservation", {"id": "X"}, "{}")]
    for transactions, booked in (("none", False), ("worktree", False), ("all", True)):
        reg = replay_tools(transactions, calls).registry
        assert (reg.get("book_reservation").transaction is not None) == booked
        assert reg.get("book_reservation").may_speculate({"flight": "HAT1"}) == booked
        assert reg.get("get_reservation").transaction is None


def test_unknown_transactions_setting_is_a_typed_error():
    with pytest.raises(InvalidArgumentError, match="transactions must be one of"):
        replay_tools("some")
