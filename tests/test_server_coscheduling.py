"""Co-scheduling of HTTP turns (generation.api_priority): a turn continuing a conversation
(after its tools, or a follow-up) reaches the engine with the returning boost, a new one with
the base priority, whatever API carries it; switched off, every turn gets the base."""

from __future__ import annotations

import pytest

from paste.engine.stats import EngineStats
from paste.server.conversations import Conversations, Outlook
from paste.server.generation import api_priority
from paste.server.turn import TurnRequest
from paste.session.priority import CoSchedulingPolicy
from test_server_support import always, live_server, openai_client

CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
FIRST = [{"role": "user", "content": "Weather in Paris?"}]
AFTER_TOOLS = FIRST + [{"role": "assistant", "content": "", "tool_calls": [CALL]},
                       {"role": "tool", "tool_call_id": "call_1", "content": "22 C"}]


class FakeEngineAtKvUsage:
    """Only what api_priority reads: the engine's KV usage (used / total blocks)."""

    def __init__(self, used, total):
        self._stats = EngineStats(num_used_blocks=used, num_blocks=total)

    def stats(self):
        return self._stats


def test_api_priority_follows_the_policy_and_the_kv_band():
    policy = CoSchedulingPolicy()
    new, later = TurnRequest(messages=FIRST), TurnRequest(messages=AFTER_TOOLS)
    follow_up = TurnRequest(messages=[*FIRST, {"role": "assistant", "content": "Sunny."},
                                      {"role": "user", "content": "And Rome?"}])
    calm, busy, full = (FakeEngineAtKvUsage(u, 100) for u in (10, 80, 95))
    assert (new.returning, later.returning, follow_up.returning) == (False, True, True)
    assert api_priority(policy, calm, new) == 0.0
    assert api_priority(policy, calm, later) == policy.returning_boost == 1.0
    assert api_priority(policy, calm, follow_up) == 1.0
    assert api_priority(policy, busy, later) == pytest.approx(0.5)  # halfway: [0.7, 0.9]
    assert api_priority(policy, full, later) == 0.0
    assert api_priority(policy, full, new) == -policy.new_turn_penalty
    assert api_priority(None, calm, later) == 0.0


def test_each_api_submits_returning_turns_boosted(engine, client):
    with engine.scripted(always("Sunny.")):
        client.chat.completions.create(model="tiny", messages=FIRST, tools=[TOOL])
        client.chat.completions.create(model="tiny", messages=AFTER_TOOLS, tools=[TOOL])
        first = client.responses.create(model="tiny", input="Weather in Paris?")
        client.responses.create(model="tiny", input="And Rome?",
                                previous_response_id=first.id)
    client.completions.create(model="tiny", prompt="Hello", max_tokens=1)
    # the chained response's conversation is keyed: its last turn's length adds the
    # expected-work term (shorter recent turns go first)
    chained = 1.0 + 64 / (64 + first.usage.output_tokens)
    assert engine.priorities[-5:] == [0.0, 1.0, 0.0, pytest.approx(chained), 0.0]


def test_conversations_give_a_keyed_turn_its_outlook():
    history = Conversations(capacity=2, window=2)
    assert history.start("a", 0.0) == Outlook() and history.start(None, 0.0) == Outlook()
    history.end("a", 10.0, 30, made_calls=True)
    assert history.start("a", 12.5) == Outlook(30.0, 2.5)  # the gap after calls: tool time
    history.end("a", 20.0, 50, made_calls=False)
    history.end("a", 21.0, 70, made_calls=True)  # a window of 2: 50 and 70
    assert history.start("a", 22.0) == Outlook(60.0, (2.5 + 1.0) / 2)
    assert history.start("a", 30.0) == Outlook(60.0, 1.75)  # a gap is booked once
    history.end("b", 1.0, 5, made_calls=False)
    history.end("c", 1.0, 5, made_calls=False)  # capacity 2: "a", least recent, goes
    assert len(history) == 2 and history.start("a", 40.0) == Outlook()


def test_a_keyed_chat_conversation_is_co_scheduled_by_its_history(engine, client):
    policy = CoSchedulingPolicy()
    with engine.scripted(always("Sunny.")):
        first = client.chat.completions.create(model="tiny", messages=FIRST, tools=[TOOL],
                                               prompt_cache_key="weather-1")
        client.chat.completions.create(model="tiny", messages=AFTER_TOOLS, tools=[TOOL],
                                       prompt_cache_key="weather-1")
    expected = policy.priority(0.0, True, 0.0, None, first.usage.completion_tokens, None)
    assert engine.priorities[-2:] == [0.0, pytest.approx(expected)]


def test_without_coscheduling_every_turn_gets_the_base(engine):
    with live_server(engine, coscheduling=False) as server:
        with engine.scripted(always("Sunny.")):
            openai_client(server).chat.completions.create(model="tiny", messages=AFTER_TOOLS,
                                                          tools=[TOOL])
    assert engine.priorities[-1] == 0.0


# ----- vLLM's request `priority` (lower runs first) ------------------------------------------
def test_a_request_priority_is_a_class_above_every_co_scheduling_term():
    policy = CoSchedulingPolicy()
    calm = FakeEngineAtKvUsage(10, 100)
    urgent = TurnRequest(messages=FIRST, request_priority=-1)
    batch_returning = TurnRequest(messages=AFTER_TOOLS, request_priority=1)
    assert api_priority(policy, calm, urgent) == 1000.0
    assert api_priority(policy, calm, batch_returning) == -1000.0 + policy.returning_boost
    assert api_priority(None, calm, batch_returning) == -1000.0
    # the largest co-scheduling boost never lifts a class over the next one
    most = (policy.returning_boost + policy.aging_weight * policy.aging_cap_s
            + policy.work_weight + policy.hide_weight * policy.hide_cap_s)
    assert most < 1000.0


def test_each_api_passes_the_request_priority_to_the_engine(engine, client):
    with engine.scripted(always("Sunny.")):
        client.chat.completions.create(model="tiny", messages=FIRST,
                                       extra_body={"priority": 2})
        client.responses.create(model="tiny", input="Hi", extra_body={"priority": -3})
    client.completions.create(model="tiny", prompt="Hello", max_tokens=1,
                              extra_body={"priority": 1})
    assert engine.priorities[-3:] == [-2000.0, 3000.0, -1000.0]


@pytest.mark.parametrize("bad", [1.5, True, "1", 1_000_001, -1_000_001])
def test_a_bad_request_priority_is_a_400_naming_it(server, bad):
    import httpx

    for route, body in (("/v1/chat/completions", {"messages": FIRST}),
                        ("/v1/completions", {"prompt": "Hello"}),
                        ("/v1/responses", {"input": "Hi"}),
                        ("/v1/sessions", {})):
        answer = httpx.post(server.url + route, json={"model": "tiny", **body, "priority": bad})
        assert answer.status_code == 400, (route, answer.text)
        assert answer.json()["error"]["param"] == "priority"


def test_a_native_session_turn_runs_in_its_priority_class(engine, server):
    import httpx

    with engine.scripted(always("Sunny.")):
        sid = httpx.post(server.url + "/v1/sessions", json={"priority": 4}).json()["id"]
        done = httpx.post(server.url + f"/v1/sessions/{sid}/messages",
                          json={"content": "Hi", "stream": False}, timeout=60).json()
    assert done["status"] == "completed"
    assert engine.priorities[-1] == -4000.0  # a first turn: the class base alone
