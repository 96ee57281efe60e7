"""The engine stats line logged while the engine works (server/stats_log.py): exact lines from
scripted counters, when a line is due, counters that start again, the real engine's counters,
and the line a live server logs."""

from __future__ import annotations

import logging

import pytest

from paste.engine.request import GenerationParams
from paste.engine.stats import EngineStats
from paste.errors import InvalidArgumentError
from paste.server import ServerConfig
from paste.server.stats_log import StatsLog, StatsSample, is_active, stats_line, take_sample
from test_server_support import live_server, openai_client, wait_until


def _sample(t: float, calls: int = 0, hits: int = 0, **engine: int) -> StatsSample:
    return StatsSample(t, EngineStats(num_blocks=200, **engine), calls, hits)


def test_line_over_an_interval() -> None:
    before = _sample(10.0, calls=3, hits=1, num_generated_tokens=100, num_admitted_tokens=1000,
                     num_reused_tokens=600, num_draft_tokens=40, num_accepted_draft_tokens=10)
    after = _sample(14.0, calls=10, hits=4, num_running=2, num_waiting=1, num_parked=5,
                    num_used_blocks=7, num_generated_tokens=148, num_admitted_tokens=1400,
                    num_reused_tokens=900, num_draft_tokens=60, num_accepted_draft_tokens=25)
    assert stats_line(before, after) == (
        "paste: prompt 25.0 tok/s, generation 12.0 tok/s, running 2, waiting 1, parked 5, "
        "KV cache 3.5%, prefix cache hit 75.0%, drafts accepted 75.0%, tool calls 7 (3 "
        "answered by speculation)")


def test_line_leaves_out_what_the_interval_did_not_have() -> None:
    before = _sample(0.0, num_generated_tokens=5)
    after = _sample(2.0, num_running=1, num_used_blocks=1, num_generated_tokens=9)
    assert stats_line(before, after) == (
        "paste: prompt 0.0 tok/s, generation 2.0 tok/s, running 1, waiting 0, parked 0, "
        "KV cache 0.5%")


def test_counters_that_start_again_count_from_zero() -> None:
    before = _sample(0.0, num_generated_tokens=500, num_admitted_tokens=900)  # old process
    after = _sample(1.0, num_generated_tokens=30, num_admitted_tokens=40, num_reused_tokens=0)
    assert stats_line(before, after).startswith("paste: prompt 40.0 tok/s, generation 30.0 "
                                                "tok/s,")
    assert is_active(before, after)


def test_activity_is_work_now_or_counted_in_the_interval() -> None:
    idle = _sample(0.0, num_generated_tokens=5, num_parked=3)
    assert not is_active(idle, _sample(1.0, num_generated_tokens=5, num_parked=3))
    assert is_active(idle, _sample(1.0, num_generated_tokens=5, num_waiting=1))
    assert is_active(idle, _sample(1.0, num_generated_tokens=5, num_admitted_tokens=3))
    assert is_active(idle, _sample(1.0, calls=1, num_generated_tokens=5))


class FakeStatsEngine:
    """An engine whose stats() answers the counters the test sets."""

    def __init__(self) -> None:
        self.stats_now = EngineStats(num_blocks=100)

    def stats(self) -> EngineStats:
        return self.stats_now


class FakeSpeculation:
    def __init__(self) -> None:
        self.counts = {"authoritative_calls": 0, "hits": 0}

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)


def test_lines_while_active_then_one_idle_line(caplog: pytest.LogCaptureFixture) -> None:
    engine, speculation, clock = FakeStatsEngine(), FakeSpeculation(), [0.0]
    log = StatsLog(engine, speculation, 5.0, clock=lambda: clock[0])
    clock[0] = 5.0
    assert log.tick() is None  # nothing happened
    engine.stats_now = EngineStats(num_blocks=100, num_running=1, num_used_blocks=2,
                                   num_generated_tokens=50, num_admitted_tokens=20)
    speculation.counts = {"authoritative_calls": 2, "hits": 1}
    clock[0] = 10.0
    with caplog.at_level(logging.INFO, logger="paste.stats"):
        first = log.tick()
    assert first == ("paste: prompt 4.0 tok/s, generation 10.0 tok/s, running 1, waiting 0, "
                     "parked 0, KV cache 2.0%, prefix cache hit 0.0%, tool calls 2 (1 answered "
                     "by speculation)")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("paste.stats", logging.INFO, first)]
    engine.stats_now = EngineStats(num_blocks=100, num_parked=1, num_used_blocks=2,
                                   num_generated_tokens=50, num_admitted_tokens=20)
    clock[0] = 15.0
    assert log.tick() == ("paste: prompt 0.0 tok/s, generation 0.0 tok/s, running 0, waiting 0,"
                          " parked 1, KV cache 2.0%")  # gone idle: said once
    clock[0] = 20.0
    assert log.tick() is None


def test_an_engine_without_stats_logs_nothing() -> None:
    class NoStats:
        pass

    assert take_sample(NoStats(), None, 0.0) is None
    assert StatsLog(NoStats(), None, 1.0).tick() is None


def test_real_engine_counts_admitted_reused_and_generated(engine) -> None:
    ids = engine.encode("The capital of France is Paris. The capital of Italy is")
    before = take_sample(engine, None, 0.0)
    engine.generate([ids], GenerationParams(max_tokens=5, ignore_eos=True))
    after = take_sample(engine, None, 1.0)
    assert before is not None and after is not None
    grown = {name: getattr(after.engine, name) - getattr(before.engine, name)
             for name in ("num_admitted_tokens", "num_reused_tokens", "num_generated_tokens")}
    assert grown == {"num_admitted_tokens": len(ids), "num_reused_tokens": 0,
                     "num_generated_tokens": 5}
    engine.generate([ids], GenerationParams(max_tokens=5, ignore_eos=True))
    again = take_sample(engine, None, 2.0)
    assert again is not None
    block = engine.config.block_size
    assert again.engine.num_admitted_tokens - after.engine.num_admitted_tokens == len(ids)
    # the same prompt again: its whole blocks but the last token's are reused
    assert again.engine.num_reused_tokens - after.engine.num_reused_tokens == (
        (len(ids) - 1) // block * block)


def test_log_stats_interval_is_validated() -> None:
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(InvalidArgumentError, match="log_stats_interval_s must be"):
            ServerConfig(model_id="m", log_stats_interval_s=bad)
    assert ServerConfig(model_id="m").log_stats_interval_s == 0.0


def test_a_live_server_logs_the_line_while_it_serves(engine,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="paste.stats"), \
            live_server(engine, log_stats_interval_s=0.05) as server:
        client = openai_client(server)
        client.completions.create(model="tiny", prompt="Hello", max_tokens=3)
        assert wait_until(lambda: any("generation" in r.getMessage()
                                      for r in caplog.records if r.name == "paste.stats"))
    lines = [r.getMessage() for r in caplog.records if r.name == "paste.stats"]
    assert all(line.startswith("paste: prompt ") for line in lines)
    assert any(", running " in line and "tok/s" in line for line in lines)
