"""Name-known speculation (SpeculationConfig.name_known), with a real ToolRegistry, ToolExecutor
and streaming parser: the moment the model has written a call's tool name, that tool's calls
are predicted (every other tool excluded) and launched; once per call of a turn; never for a
tool that may not run speculatively or that the session does not offer; not when off."""

from __future__ import annotations

import pytest

from paste.parsing import canonical_call
from paste.parsing.stream import StreamingToolCallParser
from paste.patterns.predictor import Prediction
from paste.speculation import SpeculationConfig, SpeculationManager, Speculator
from paste.tools import ToolExecutor, ToolRegistry
from paste.tools.results import ToolJob


class FakeToolPredictor:
    """Before any call: nothing. Asked with a tool filter: `list(docs)` at p 0.9 and
    `read(notes.txt)` at 0.6 and `move(a)` at 0.5, minus the tools `allow` refuses. Records the
    tools each question allowed of those three."""

    def __init__(self, fail: bool = False) -> None:
        self.asked: list[list[str]] = []
        self.tools: list[str | None] = []  # the `tool` of each question
        self.turns: list[str | None] = []  # the turn's text each question's state held
        self.fail = fail

    def predict(self, state, k, allow=None, tool=None):
        calls = [("list", {"folder": "docs"}, 0.9), ("read", {"path": "notes.txt"}, 0.6),
                 ("move", {"src": "a"}, 0.5)]
        allowed = [c for c in calls if allow is None or allow(c[0])]
        self.asked.append([n for n, _a, _p in allowed])
        self.tools.append(tool)
        self.turns.append(state.resolve(("turn", "b1", "text")))
        if self.fail:
            raise RuntimeError("predictor broke")
        if allow is None or not state.calls and len(allowed) > 1:
            return []  # nothing at the turn's start: only the name makes it predictable
        return [Prediction(n, a, p, 1.0, canonical_call(n, a)) for n, a, p in allowed][:k]


@pytest.fixture
def world(tool_world):
    reg, log = tool_world.reg, tool_world.log

    @reg.tool(effect="read_only", timeout_s=10)
    def list(folder: str) -> str:  # noqa: A001 - the tool's name
        log("list")
        return f"{folder}: a.txt"

    @reg.tool(effect="read_only", timeout_s=10)
    def read(path: str) -> str:
        log("read")
        return f"contents of {path}"

    @reg.tool(effect="side_effect", timeout_s=10)
    def move(src: str) -> str:
        log("move")
        return "moved"

    return reg, tool_world.executor, tool_world.runs


def _track(reg, executor, predictor, tools=None, **config):
    config = {"name_known": True, **config}  # off by default
    cfg = SpeculationConfig(max_concurrent_jobs=4, learn_latency=False, max_waste_ratio=None,
                            waste_price=0.0, **config)
    manager = SpeculationManager(reg, executor, cfg)
    spec = Speculator(manager, lambda tenant: predictor, lambda: 0.05).track("s", "t", tools)
    return manager, spec


def _stream(spec, parser, deltas):
    """Feed the deltas one engine step at a time; the canonical calls launched per step."""
    launched = []
    for delta in deltas:
        parser.feed(delta)
        launched.append(spec.on_stream(parser))
    return launched


def test_the_named_tools_call_is_launched_once_the_name_is_written_and_is_a_hit(world):
    reg, executor, runs = world
    predictor = FakeToolPredictor()
    # no chaining or lookahead after the hit: only what the name launched runs
    manager, spec = _track(reg, executor, predictor, chain=False, lookahead=False)
    spec.on_user("read my notes")
    assert predictor.asked == [["list", "read"]] and manager.staging.jobs("s") == []
    parser = StreamingToolCallParser(format="hermes")
    read = canonical_call("read", {"path": "notes.txt"})
    launched = _stream(spec, parser, ["Reading. <tool_call>", '\n{"name": "re', 'ad", "ar',
                                      'guments": {"path": "no', 'tes.txt"}}'])
    assert launched == [[], [], [read], [], []]  # once, when "read" was complete
    assert predictor.asked == [["list", "read"], ["read"]]  # list (p 0.9) was excluded
    assert predictor.tools == [None, "read"]  # asked given the tool
    assert predictor.turns == [None, "Reading."]  # and the turn's text before the call
    assert spec.state.resolve(("turn", "b1", "text")) is None  # on a fork only
    assert manager.metrics.snapshot("s")["named_jobs"] == 1
    (call,) = parser.calls
    result = spec.submit(ToolJob("call_1", call.name, call.arguments)).result(5)
    assert (result.call_id, result.content) == ("call_1", "contents of notes.txt")
    snap = manager.metrics.snapshot("s")
    assert (snap["hits"], snap["misses"], snap["speculative_jobs"]) == (1, 0, 1)
    assert runs == ["read"]  # the hit used the speculative run
    spec.close()


def test_the_candidates_wait_is_its_remaining_arguments_decode_time(world, monkeypatch):
    reg, executor, _runs = world
    manager, spec = _track(reg, executor, FakeToolPredictor())
    got = []
    monkeypatch.setattr(manager, "speculate", lambda sid, cands, on_done=None: got.extend(cands))
    spec.on_user("read my notes")
    _stream(spec, StreamingToolCallParser(format="json"), ['{"name": "read", '])
    (cand,) = got
    assert (cand.name, cand.arguments, cand.probability) == ("read", {"path": "notes.txt"}, 0.6)
    assert cand.time_until_emitted_s == pytest.approx(0.05 * len('{"path": "notes.txt"}') / 4.0)
    # with the turn's tokenizer (here one token per character, a fake): the rendered call's
    # text after the name, ', "arguments": {"path": "notes.txt"}}', in tokens
    params = object()
    assert spec.turn_params(params, "json", FakeCharTokenizer()) is params  # nothing staged
    got.clear()
    _stream(spec, StreamingToolCallParser(format="json"), ['{"name": "read", '])
    (cand,) = got
    rest = ', "arguments": {"path": "notes.txt"}}'
    assert cand.time_until_emitted_s == pytest.approx(0.05 * len(rest))
    spec.close()


class FakeCharTokenizer:
    """A fake tokenizer: one token per character."""

    def encode(self, text, add_special_tokens=True):
        return [ord(c) for c in text]


def test_every_call_of_a_turn_and_of_the_next_turn_is_peeked_once(world):
    reg, executor, _runs = world
    predictor = FakeToolPredictor()
    manager, spec = _track(reg, executor, predictor)
    spec.on_user("list, then read")
    parser = StreamingToolCallParser(format="hermes")
    _stream(spec, parser, ['<tool_call>\n{"name": "list", "arg', 'uments": {"folder": "docs"}}',
                           '</tool_call><tool_call>\n{"name": "read"', ', "arguments"',
                           '<tool_call>\n{"name": "move", "arguments": {}}</tool_call>'])
    # a call complete within one step is never peeked at: it is dispatched at once
    assert predictor.asked == [["list", "read"], ["list"], ["read"]]
    _stream(spec, StreamingToolCallParser(format="hermes"), ['<tool_call>\n{"name": "read"'])
    assert predictor.asked[-1] == ["read"]  # a new turn's parser: peeked again
    assert len(predictor.asked) == 4
    spec.close()


@pytest.mark.parametrize(
    ("tools", "config", "text"),
    [
        (None, {}, '{"name": "move", "arguments": {'),  # side-effecting, no transaction
        (["list", "move"], {}, '{"name": "read", "arguments": {'),  # not offered
        (None, {"name_known": False}, '{"name": "read", "arguments": {'),  # switched off
        (None, {"enable_speculation": False}, '{"name": "read", "arguments": {'),
        (None, {}, '{"arguments": {"path": "notes.txt"}, "nam'),  # no name yet
    ],
)
def test_nothing_is_asked_when_the_named_tool_cannot_be_speculated(world, tools, config, text):
    reg, executor, runs = world
    predictor = FakeToolPredictor()
    manager, spec = _track(reg, executor, predictor, tools=tools, **config)
    before = len(predictor.asked)
    assert _stream(spec, StreamingToolCallParser(format="json"), [text]) == [[]]
    assert len(predictor.asked) == before and runs == []
    assert manager.metrics.snapshot("s")["named_jobs"] == 0
    spec.close()


def test_a_failing_predictor_speculates_nothing_and_the_call_still_runs(world, caplog):
    reg, executor, runs = world
    predictor = FakeToolPredictor(fail=True)
    manager, spec = _track(reg, executor, predictor)
    parser = StreamingToolCallParser(format="json")
    assert _stream(spec, parser, ['{"name": "read", ', '"arguments": {"path": "notes.txt"}}']
                   ) == [[], []]
    assert "predicting the calls of 'read' failed" in caplog.text
    (call,) = parser.calls
    assert spec.submit(ToolJob("call_1", call.name, call.arguments)).result(5).content == (
        "contents of notes.txt")
    assert manager.metrics.snapshot("s")["misses"] == 1 and runs == ["read"]
    spec.close()


def test_a_name_never_written_within_the_peek_window_is_given_up():
    from paste.speculation.speculator import PEEK_CHARS

    class CountingParser(StreamingToolCallParser):
        peeks = 0

        def partial_call(self, limit=1024):
            CountingParser.peeks += 1
            return super().partial_call(limit)

    reg = ToolRegistry()
    executor = ToolExecutor(reg)
    try:
        manager, spec = _track(reg, executor, FakeToolPredictor())
        parser = CountingParser(format="json")
        assert _stream(spec, parser, ['{"arguments": {"text": "' + "a" * PEEK_CHARS,
                                      "b", "c"]) == [[], [], []]
        assert CountingParser.peeks == 3 and spec._peeked == {0}
        spec.close()
    finally:
        executor.shutdown()
        reg.close()


def test_name_known_is_off_by_default():
    assert SpeculationConfig().name_known is False
