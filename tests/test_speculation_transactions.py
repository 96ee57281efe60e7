"""Transactions (paste.tools.transaction): a side-effecting tool that stages its effects on a
private copy runs speculatively; a hit commits them, every other end discards them, and what
the session sees (results and the tool's final state) is exactly what it sees with speculation
off."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest

from paste.parsing import canonical_call
from paste.speculation.admission import Candidate
from paste.speculation.config import SpeculationConfig
from paste.speculation.manager import SpeculationManager
from paste.tools import ToolExecutor, ToolRegistry
from paste.tools.errors import ToolDefinitionError
from paste.tools.transaction import Staged

WAIT_S = 10.0


class Ledger:
    """A test tool's state: an append-only list of entries (the real thing, in memory)."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.lock = threading.Lock()
        self.commits = 0
        self.discards = 0
        self.gate: threading.Event | None = None  # set: transactions wait for it
        self.fail_commit = False

    def append(self, entry: str) -> str:
        with self.lock:
            self.entries.append(entry)
            return f"{len(self.entries)} entries, last {entry}"

    def transaction(self, entry: str) -> Staged:
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        with self.lock:
            base = list(self.entries)
        copy = base + [entry]

        def commit() -> None:
            if self.fail_commit:
                raise OSError("disk full")
            with self.lock:
                if self.entries != base:  # all or nothing
                    raise RuntimeError("the ledger moved since the fork")
                self.entries[:] = copy
                self.commits += 1

        def discard() -> None:
            self.discards += 1

        return Staged(f"{len(copy)} entries, last {entry}", commit, discard)


def make_registry(ledger: Ledger, transaction=None) -> ToolRegistry:
    reg = ToolRegistry()

    def append(entry: str) -> str:
        """Append an entry to the ledger."""
        return ledger.append(entry)

    def peek() -> str:
        """The ledger's entries."""
        return ",".join(ledger.entries)

    reg.add_function(append, effect="side_effect",
                     transaction=transaction or ledger.transaction)
    reg.add_function(peek, effect="read_only")
    return reg


@contextmanager
def ledger_manager(transaction=None, **config):
    """(Ledger, SpeculationManager over its tools); config: SpeculationConfig options."""
    ledger = Ledger()
    reg = make_registry(ledger, transaction)
    executor = ToolExecutor(reg)
    try:
        yield ledger, SpeculationManager(reg, executor, SpeculationConfig(
            learn_latency=False, max_waste_ratio=None, **config))
    finally:
        executor.shutdown()


@pytest.fixture
def setup():
    with ledger_manager() as pair:
        yield pair


def start_gated(ledger: Ledger, m):
    """Speculate append("a") with the ledger's transactions held at a gate; returns the
    staged job once it is running."""
    ledger.gate = threading.Event()
    m.speculate("s", [cand("a")])
    job = m.staging.jobs("s")[0]
    wait_for(job.future.started)
    return job


def stage_done(m, entry: str) -> None:
    """Speculate append(entry) and wait until its staged job has finished."""
    m.speculate("s", [cand(entry)])
    m.staging.jobs("s")[0].future.result(WAIT_S)


def wait_for(condition, polls: int = 400) -> None:
    for _ in range(polls):
        if condition():
            return
        threading.Event().wait(0.005)


def cand(entry: str, p: float = 0.9) -> Candidate:
    args = {"entry": entry}
    return Candidate("append", args, canonical_call("append", args), p, 1.0, 1.0)


def emit(m, call_id: str, entry: str, session: str = "s"):
    args = {"entry": entry}
    return m.resolve(session, call_id, "append", args, canonical_call("append", args))


def test_a_hit_commits_the_staged_effects_once(setup):
    ledger, m = setup
    ledger.append("x")
    assert m.speculate("s", [cand("a")]) == [canonical_call("append", {"entry": "a"})]
    job = m.staging.jobs("s")[0]
    assert job.future.result(WAIT_S).content == "2 entries, last a"
    assert ledger.entries == ["x"]  # staged privately: the world is unchanged
    call = emit(m, "call-1", "a")
    assert call.kind == "reused"
    res = call.result(WAIT_S)
    assert (res.call_id, res.ok, res.content) == ("call-1", True, "2 entries, last a")
    assert (ledger.entries, ledger.commits, ledger.discards) == (["x", "a"], 1, 0)
    counts = m.metrics.snapshot("s")
    assert (counts["hits_reused"], counts["committed"], counts["misses"]) == (1, 1, 0)


def test_a_miss_discards_the_staged_effects_and_runs_the_real_call(setup):
    ledger, m = setup
    stage_done(m, "a")
    call = emit(m, "call-1", "b")
    assert call.kind == "miss"
    assert call.result(WAIT_S).content == "1 entries, last b"
    assert (ledger.entries, ledger.commits, ledger.discards) == (["b"], 0, 1)
    assert m.staging.jobs("s") == []
    assert m.metrics.snapshot("s")["stale_discarded"] == 1


def test_a_transaction_staged_before_another_side_effect_is_stale(setup):
    ledger, m = setup
    stage_done(m, "a")
    assert emit(m, "call-1", "z").result(WAIT_S).content == "1 entries, last z"
    call = emit(m, "call-2", "a")
    assert call.kind == "miss"
    # The staged result said "1 entries"; the real call, after z, gives 2.
    assert call.result(WAIT_S).content == "2 entries, last a"
    assert (ledger.entries, ledger.commits, ledger.discards) == (["z", "a"], 0, 1)


def test_a_commit_that_raises_is_a_miss_and_the_call_runs_for_real(setup):
    ledger, m = setup
    ledger.fail_commit = True
    stage_done(m, "a")
    call = emit(m, "call-1", "a")
    res = call.result(WAIT_S)
    assert (call.kind, res.ok, res.content) == ("miss", True, "1 entries, last a")
    assert (ledger.entries, ledger.commits, ledger.discards) == (["a"], 0, 1)
    counts = m.metrics.snapshot("s")
    assert (counts["commit_failures"], counts["committed"], counts["hits"]) == (1, 0, 0)


def test_a_running_transaction_is_awaited_then_committed(setup):
    ledger, m = setup
    start_gated(ledger, m)
    call = emit(m, "call-1", "a")
    assert call.kind == "awaited"
    assert not call.done()
    ledger.gate.set()
    assert call.result(WAIT_S).content == "1 entries, last a"
    assert (ledger.entries, ledger.commits) == (["a"], 1)
    assert m.metrics.snapshot("s")["hits_awaited"] == 1


def test_effects_of_a_job_cancelled_while_running_are_discarded_when_it_returns(setup):
    ledger, m = setup
    job = start_gated(ledger, m)
    m.end_session("s")
    assert job.future.done() and job.future.result(0).error_kind == "cancelled"
    ledger.gate.set()  # the transaction returns its Staged after the cancel
    wait_for(lambda: ledger.discards)
    assert (ledger.entries, ledger.commits, ledger.discards) == ([], 0, 1)


def test_transactions_switched_off_refuse_side_effecting_calls():
    with ledger_manager(transactions=False) as (ledger, m):
        assert m.speculate("s", [cand("a")]) == []
        assert m.metrics.snapshot("s")["rejected"] == {"effect": 1}
        call = emit(m, "call-1", "a")
        assert (call.kind, call.result(WAIT_S).content) == ("miss", "1 entries, last a")
        assert (ledger.entries, ledger.commits, ledger.discards) == (["a"], 0, 0)


def test_a_transaction_that_returns_no_staged_is_a_tool_error_and_a_miss():
    with ledger_manager(lambda entry: f"would append {entry}") as (ledger, m):
        m.speculate("s", [cand("a")])
        res = m.staging.jobs("s")[0].future.result(WAIT_S)
        assert (res.ok, res.error_kind) == (False, "tool_error")
        assert "returned str, not a Staged" in res.error
        call = emit(m, "call-1", "a")
        assert call.result(WAIT_S).content == "1 entries, last a"
        assert call.kind == "miss" and ledger.entries == ["a"]


def test_a_queued_transaction_is_never_promoted_early(setup):
    ledger, m = setup
    ledger.gate = threading.Event()
    m.speculate("s", [cand("a"), cand("b", 0.8)])
    jobs = {j.arguments["entry"]: j for j in m.staging.jobs("s")}
    assert not m.promote_early("s", jobs["a"].cand_id)
    assert not m.promote_early("s", jobs["b"].cand_id)
    ledger.gate.set()
    assert ledger.entries == []
    assert m.metrics.snapshot("s")["promoted_early"] == 0


def _session(m, ledger: Ledger, speculate: bool) -> list[str]:
    """append a, peek, append b, peek; with speculation the appends are predicted."""
    out = []
    for i, entry in enumerate(("a", "b")):
        if speculate:
            m.speculate("s", [cand(entry)])
            m.staging.jobs("s")[0].future.result(WAIT_S)
        out.append(emit(m, f"call-{2 * i}", entry).result(WAIT_S).content)
        out.append(m.resolve("s", f"call-{2 * i + 1}", "peek", {},
                             canonical_call("peek", {})).result(WAIT_S).content)
    return out + [",".join(ledger.entries)]


def test_results_and_final_state_are_the_same_with_speculation_off():
    transcripts = []
    for speculate in (False, True):
        with ledger_manager() as (ledger, m):
            transcripts.append(_session(m, ledger, speculate))
            assert m.metrics.snapshot("s")["committed"] == (2 if speculate else 0)
    assert transcripts[0] == transcripts[1] == [
        "1 entries, last a", "a", "2 entries, last b", "a,b", "a,b"]


def record(entry: str) -> str:
    """A module-level tool (process isolation needs an importable function)."""
    return entry


def test_registry_refuses_a_transaction_outside_thread_isolation():
    reg = ToolRegistry()
    with pytest.raises(ToolDefinitionError, match="needs isolation='thread'"):
        reg.add_function(record, effect="side_effect", isolation="process",
                         transaction=lambda **kw: None)
    with pytest.raises(ToolDefinitionError, match="transaction must be callable"):
        reg.add_function(record, effect="side_effect", transaction="not callable")
    assert reg.names() == []


def test_staged_settles_once():
    log = []
    staged = Staged(1, lambda: log.append("commit"), lambda: log.append("discard"))
    staged.commit()
    staged.discard()  # a no-op once committed
    with pytest.raises(RuntimeError, match="already committed"):
        staged.commit()
    assert (log, staged.state) == (["commit"], "committed")

    def broken() -> None:
        raise OSError("disk full")

    failing = Staged(1, broken, lambda: log.append("discard"))
    with pytest.raises(OSError):
        failing.commit()
    assert (failing.state, log[-1]) == ("discarded", "discard")


def test_cancelling_an_awaited_transactional_hit_discards_its_effects(setup):
    ledger, m = setup
    start_gated(ledger, m)
    call = emit(m, "call-1", "a")
    assert call.kind == "awaited"
    assert call.cancel()
    ledger.gate.set()  # the Staged arrives after the cancel: the executor discards it
    wait_for(lambda: ledger.discards)
    assert (ledger.entries, ledger.commits, ledger.discards) == ([], 0, 1)


def test_ending_a_session_discards_a_claimed_hit_whose_result_was_never_taken(setup):
    ledger, m = setup
    stage_done(m, "a")
    call = emit(m, "call-1", "a")
    assert call.kind == "reused"
    m.end_session("s")  # the session died before it took the result
    assert (ledger.entries, ledger.commits, ledger.discards) == ([], 0, 1)
    taken = emit(m, "call-2", "b")
    assert taken.result(WAIT_S).content == "1 entries, last b"
    m.end_session("s")  # nothing open any more: nothing else discarded
    assert (ledger.entries, ledger.discards) == (["b"], 1)
