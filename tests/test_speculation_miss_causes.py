"""Why each miss was one (speculation/misscause.py): MissCauses on its own, then through a
SpeculationManager with a real ToolRegistry and ToolExecutor, where the causes must sum to the
misses."""

from __future__ import annotations

import pytest

from paste.parsing import canonical_call
from paste.speculation.admission import Candidate
from paste.speculation.config import SpeculationConfig
from paste.speculation.manager import SpeculationManager
from paste.speculation.metrics import SpeculationMetrics
from paste.speculation.misscause import CAUSES, LAUNCHED, MissCauses
from paste.tools import SpeculationPolicy, ToolExecutor, ToolRegistry


def test_cause_order_and_the_latest_outcome():
    mc = MissCauses()
    mc.offered("s", "a", 1, "waste")
    mc.offered("s", "a", 1, "value")  # offered again for the same call: the latest counts
    mc.offered("s", "b", 1, LAUNCHED)
    mc.offered("s", "c", 1, "budget")
    assert mc.cause("s", "c", 1, "effect") == "not_speculable"  # the call itself comes first
    mc.offered("s", "c", 2, "budget")
    assert mc.cause("s", "c", 2, "policy") == "policy"
    mc.offered("s", "a", 3, "waste")
    mc.offered("s", "a", 3, "value")
    assert mc.cause("s", "a", 3, None) == "value"
    mc.offered("s", "b", 4, LAUNCHED)
    assert mc.cause("s", "b", 4, None) == "discarded"
    assert mc.cause("s", "zzz", 5, None) == "unpredicted"


def test_outcomes_are_per_position_and_per_session():
    mc = MissCauses()
    mc.offered("s", "a", 1, "waste")  # predicted for call 1
    mc.offered("s", "b", 2, "value")  # chained: predicted for call 2
    mc.offered("t", "a", 1, "cpu")
    assert mc.cause("s", "x", 1, None) == "unpredicted"  # call 1 was another call
    # call 1's outcomes are gone: `a` emitted as call 2 was not predicted for it
    assert mc.cause("s", "a", 2, None) == "unpredicted"
    mc.offered("s", "b", 3, "value")
    mc.emitted("s", 3)  # call 3 was a hit: what was offered for it is dropped
    assert mc.cause("s", "b", 4, None) == "unpredicted"
    assert mc.cause("t", "a", 1, None) == "cpu"  # another session's table is its own
    mc.offered("t", "q", 2, "waste")
    mc.end_session("t")
    assert mc.cause("t", "q", 2, None) == "unpredicted"
    assert mc._offered == {}  # nothing left behind


def test_metrics_count_each_miss_once_with_its_cause():
    m = SpeculationMetrics()
    m.miss("s", "value")
    m.miss("s", "value")
    m.miss("t", "unpredicted")
    assert (m.snapshot("s")["misses"], m.snapshot("s")["miss_causes"]) == (2, {"value": 2})
    total = m.snapshot()
    assert (total["misses"], total["miss_causes"]) == (3, {"value": 2, "unpredicted": 1})
    assert m.snapshot("nobody")["miss_causes"] == {}


@pytest.fixture
def manager():
    reg = ToolRegistry()

    @reg.tool(effect="read_only", timeout_s=10)
    def lookup(key: str) -> str:
        return f"value of {key}"

    @reg.tool(effect="side_effect", timeout_s=10)
    def write(key: str) -> str:
        return "written"

    failures = {"left": 1}

    @reg.tool(effect="read_only", timeout_s=10)
    def flaky(key: str) -> str:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("the speculative run fails")
        return f"flaky {key}"

    @reg.tool(effect="read_only", timeout_s=10, speculation=SpeculationPolicy(
        allowed=lambda a: a["url"].startswith("http://allowed/")))
    def fetch(url: str) -> str:
        return url

    executor = ToolExecutor(reg)
    # fake tools take microseconds: no waste bound (it has its own tests), fixed estimates
    yield SpeculationManager(reg, executor, SpeculationConfig(learn_latency=False,
                                                              max_waste_ratio=None))
    executor.shutdown()
    reg.close()


def cand(name, args, p=0.9, lat=1.0, until=1.0):
    return Candidate(name, args, canonical_call(name, args), p, lat, until)


def emit(m, name, args, call_id="c"):
    out = m.resolve("s", call_id, name, args, canonical_call(name, args))
    out.result(5)
    return out.kind


def test_manager_gives_every_miss_one_cause(manager):
    m = manager
    # 1: predicted, launched and answered: a hit, no cause
    m.speculate("s", [cand("lookup", {"key": "a"})])
    m.staging.jobs("s")[0].future.result(5)
    assert emit(m, "lookup", {"key": "a"}) == "reused"
    # 2: predicted but refused by the value check, then emitted
    assert m.speculate("s", [cand("lookup", {"key": "b"}, p=0.001, lat=0.01)]) == []
    assert emit(m, "lookup", {"key": "b"}) == "miss"
    # 3: never predicted
    assert emit(m, "lookup", {"key": "c"}) == "miss"
    # 4: launched, then a side-effecting call (5, not speculable) makes it stale: 6 is discarded
    m.speculate("s", [cand("lookup", {"key": "d"})], ahead=2)
    m.staging.jobs("s")[0].future.result(5)
    assert emit(m, "write", {"key": "w"}) == "miss"
    assert emit(m, "lookup", {"key": "d"}) == "miss"
    # 7: the tool's policy refuses these arguments; 8: a tool the registry does not know
    assert emit(m, "fetch", {"url": "http://evil/"}) == "miss"
    unknown = m.resolve("s", "u", "nope", {}, canonical_call("nope", {}))
    res = unknown.result(5)
    assert (unknown.kind, res.ok) == ("miss", False)  # the session gets the tool's error
    # 9: launched and claimed, but its result failed: the call runs for real, discarded
    m.speculate("s", [cand("flaky", {"key": "f"})])
    assert not m.staging.jobs("s")[0].future.result(5).ok
    out = m.resolve("s", "f", "flaky", {"key": "f"}, canonical_call("flaky", {"key": "f"}))
    assert (out.result(5).content, out.kind) == ("flaky f", "miss")
    snap = m.metrics.snapshot("s")
    assert snap["miss_causes"] == {"value": 1, "unpredicted": 1, "not_speculable": 2,
                                   "discarded": 2, "policy": 1}
    assert (snap["hits"], snap["misses"]) == (1, 7)
    assert sum(snap["miss_causes"].values()) == snap["misses"]
    assert set(snap["miss_causes"]) <= set(CAUSES)
    m.end_session("s")
    assert m.miss_causes._offered == {}
