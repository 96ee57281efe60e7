"""SpeculationMetrics: exact totals forever, a per-session table bounded to max_sessions that
evicts the longest-ended session first (then the least recently updated one)."""

from __future__ import annotations

import pytest

from paste.errors import InvalidArgumentError
from paste.speculation.config import SpeculationConfig
from paste.speculation.manager import SpeculationManager
from paste.speculation.metrics import DEFAULT_MAX_SESSIONS, SpeculationMetrics
from paste.tools import ToolExecutor, ToolRegistry


def test_the_table_is_bounded_and_totals_stay_exact():
    m = SpeculationMetrics(max_sessions=3)
    for i in range(10):
        m.add(f"s{i}", "authoritative_calls", i)
        m.end_session(f"s{i}")
    assert list(m.sessions) == ["s7", "s8", "s9"]
    assert m.snapshot()["authoritative_calls"] == sum(range(10))
    assert m.snapshot("s9")["authoritative_calls"] == 9
    assert m.snapshot("s0")["authoritative_calls"] == 0  # evicted: zeros
    assert list(m.sessions) == ["s7", "s8", "s9"]  # reading adds nothing
    assert DEFAULT_MAX_SESSIONS == 4096


def test_ended_sessions_go_first_oldest_end_first():
    m = SpeculationMetrics(max_sessions=3)
    for sid in ("a", "b", "c"):
        m.add(sid, "misses")
    m.end_session("c")
    m.end_session("a")
    m.add("d", "misses")  # full: c ended first
    assert list(m.sessions) == ["a", "b", "d"]
    m.add("e", "misses")  # then a
    assert list(m.sessions) == ["b", "d", "e"]
    m.add("b", "hits_reused")  # b is now the most recently updated
    m.add("f", "misses")  # nothing ended: the least recently updated (d) goes
    assert list(m.sessions) == ["e", "b", "f"]
    assert m.snapshot("b")["hits"] == 1
    m.end_session("zzz")  # unknown: nothing to mark
    m.add("g", "misses")
    assert list(m.sessions) == ["b", "f", "g"]
    assert m.snapshot()["misses"] == 7  # a..g


def test_rejections_count_in_the_bounded_table_too():
    m = SpeculationMetrics(max_sessions=1)
    m.reject("a", "effect")
    m.reject("b", "cpu")
    assert (list(m.sessions), m.snapshot("b")["rejected"]) == (["b"], {"cpu": 1})
    assert m.snapshot()["rejected"] == {"effect": 1, "cpu": 1}


def test_max_sessions_must_be_a_positive_int():
    for bad in (0, -1, True, 2.0):
        with pytest.raises(InvalidArgumentError, match="max_sessions"):
            SpeculationMetrics(max_sessions=bad)


def test_a_just_ended_session_stays_readable_through_the_manager():
    reg = ToolRegistry()

    @reg.tool(effect="read_only")
    def look(key: str) -> str:
        return key

    executor = ToolExecutor(reg)
    try:
        metrics = SpeculationMetrics(max_sessions=2)
        mgr = SpeculationManager(reg, executor, SpeculationConfig(), metrics=metrics)
        for sid in ("old", "s"):
            mgr.resolve(sid, "c1", "look", {"key": "k"}, "look k").result(10)
        mgr.end_session("old")
        mgr.end_session("s")
        assert metrics.snapshot("s")["authoritative_calls"] == 1  # as the bench runner reads it
        mgr.resolve("new", "c1", "look", {"key": "k"}, "look k").result(10)
        assert list(metrics.sessions) == ["s", "new"]  # "old" ended first, so it went first
        assert metrics.snapshot()["authoritative_calls"] == 3
    finally:
        executor.shutdown()
