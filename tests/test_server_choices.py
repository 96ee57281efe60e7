"""n > 1 on /v1/chat/completions through the real openai client (server/choices.py): one
answer per choice, seeded choices that differ yet reproduce, streamed choices that reassemble
to the whole ones, usage over all choices, tool calls per choice, and the merge's failure
paths."""

from __future__ import annotations

import asyncio
import json

import pytest

from paste.engine.request import GenerationParams
from paste.server.choices import choice_turns, merge_choices
from paste.server.turn import TurnRequest
from test_server_support import always

USER = [{"role": "user", "content": "Tell me a story."}]
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def test_seeded_choices_differ_and_reproduce(client):
    kwargs = dict(model="tiny", messages=USER, n=3, seed=7, temperature=1.0, max_tokens=8,
                  logprobs=True)
    first = client.chat.completions.create(**kwargs)
    again = client.chat.completions.create(**kwargs)
    texts = [c.message.content for c in first.choices]
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert texts == [c.message.content for c in again.choices]
    assert len(set(texts)) == 3  # seeds 7, 8, 9: three different streams
    per_choice = [len(c.logprobs.content) for c in first.choices]
    assert first.usage.completion_tokens == sum(per_choice)
    single = client.chat.completions.create(model="tiny", messages=USER, max_tokens=1)
    assert first.usage.prompt_tokens == single.usage.prompt_tokens  # counted once


def test_greedy_choices_are_identical(client):
    out = client.chat.completions.create(model="tiny", messages=USER, n=2, temperature=0,
                                         max_tokens=6)
    assert out.choices[0].message.content == out.choices[1].message.content
    assert out.usage.completion_tokens == 12 and out.choices[1].finish_reason == "length"


def test_streamed_choices_reassemble_to_the_whole_ones(client):
    kwargs = dict(model="tiny", messages=USER, n=2, seed=3, temperature=1.0, max_tokens=8)
    whole = client.chat.completions.create(**kwargs)
    texts, finishes, usage, roles = {0: "", 1: ""}, {}, None, []
    for chunk in client.chat.completions.create(**kwargs, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.usage is not None:
            assert finishes.keys() == {0, 1}  # usage comes after both finished
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.index)
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert roles == [0, 1]
    assert texts == {i: c.message.content for i, c in enumerate(whole.choices)}
    assert finishes == {i: c.finish_reason for i, c in enumerate(whole.choices)}
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_each_choice_parses_its_own_calls(engine, client):
    with engine.scripted(always('{"name": "get_weather", "arguments": {"city": "Oslo"}}')):
        out = client.chat.completions.create(model="tiny", messages=USER, tools=[TOOL], n=2)
    calls = [c.message.tool_calls for c in out.choices]
    assert [[(t.function.name, json.loads(t.function.arguments)) for t in c] for c in calls] \
        == [[("get_weather", {"city": "Oslo"})]] * 2
    assert calls[0][0].id != calls[1][0].id
    assert [c.finish_reason for c in out.choices] == ["tool_calls", "tool_calls"]


@pytest.mark.parametrize("n", [0, 129, "2", 1.5])
def test_bad_n_is_400(client, n):
    import openai

    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny", messages=USER, extra_body={"n": n})
    assert err.value.body["param"] == "n"


def test_choice_turns_shift_seeds_and_keep_one_cache_key():
    turn = TurnRequest(messages=[], params=GenerationParams(seed=2**63 - 2), cache_key="k")
    turns = choice_turns(turn, 3)
    assert [t.params.seed for t in turns] == [2**63 - 2, 2**63 - 1, 0]
    assert [t.cache_key for t in turns] == ["k", None, None]
    unseeded = choice_turns(TurnRequest(messages=[]), 2)
    assert [t.params.seed for t in unseeded] == [None, None]


class FakeStream:
    """An async event stream for merge_choices: yields its items (raising an exception item),
    calls `on_started` before its first item, and records whether it was closed."""

    def __init__(self, items, delay=0.0, log=None, name=""):
        self.items, self.delay, self.closed = list(items), delay, False
        self.on_started, self.log, self.name = None, log if log is not None else [], name

    def factory(self):
        def make(on_started):
            self.on_started = on_started
            self.log.append(f"start {self.name}")
            return self
        return make

    def __aiter__(self):
        return self

    async def __anext__(self):
        await asyncio.sleep(self.delay)
        if not self.items:
            raise StopAsyncIteration
        item = self.items.pop(0)
        if isinstance(item, BaseException):
            raise item
        if self.on_started is not None:
            self.on_started()
            self.on_started = None
        self.log.append(f"{self.name} {item}")
        return item

    async def aclose(self):
        self.closed = True


def test_merge_tags_events_with_their_choice_across_prompts():
    async def run():
        streams = [FakeStream(["a1", "a2"]), FakeStream(["b1"]), FakeStream(["c1"])]
        groups = [[streams[0].factory(), streams[1].factory()], [streams[2].factory()]]
        got = [pair async for pair in merge_choices(groups)]
        return got, [s.closed for s in streams]

    got, closed = asyncio.run(run())
    assert sorted(got) == [(0, "a1"), (0, "a2"), (1, "b1"), (2, "c1")]
    assert [e for i, e in got if i == 0] == ["a1", "a2"]  # in order within a choice
    assert closed == [True, True, True]


def test_a_prompts_other_choices_start_after_its_first_output():
    async def run():
        log = []
        first = FakeStream(["x1", "x2"], delay=0.01, log=log, name="first")
        second = FakeStream(["y1"], log=log, name="second")
        other = FakeStream(["z1"], log=log, name="other")
        groups = [[first.factory(), second.factory()], [other.factory()]]
        [pair async for pair in merge_choices(groups)]
        return log

    log = asyncio.run(run())
    assert log.index("first x1") < log.index("start second")  # after the first output
    assert log.index("start other") < log.index("first x1")  # another prompt: at once


def test_merge_raises_a_choices_error_and_closes_every_stream():
    async def run():
        slow = FakeStream(["x"] * 100, delay=0.01)
        broken = FakeStream(["b1", ValueError("bad choice")])
        with pytest.raises(ValueError, match="bad choice"):
            async for _ in merge_choices([[slow.factory()], [broken.factory()]]):
                pass
        return slow, broken

    slow, broken = asyncio.run(run())
    assert slow.closed and broken.closed and len(slow.items) > 50  # stopped early


def test_the_prompt_is_computed_once_for_all_choices(engine, client):
    long_user = [{"role": "user", "content": "Tell me a story about " + "the sea, " * 40}]
    before = len(engine.handles)
    client.chat.completions.create(model="tiny", messages=long_user, n=3, max_tokens=2,
                                   temperature=0)
    finals = [h.result() for h in engine.handles[before:]]
    prompt_len = finals[0].num_prompt_tokens
    block = engine.core.config.block_size
    assert len(finals) == 3 and prompt_len > 100
    assert finals[0].num_cached_tokens < 40  # a new prompt (but the template's start)
    # the others reuse every full block; the last token is always computed
    assert [f.num_cached_tokens for f in finals[1:]] == [(prompt_len - 1) // block * block] * 2
