"""Stored responses through the real openai client: previous_response_id chains (prompt,
function_call_output answers, instructions not carried), retrieve / delete, store false, LRU
eviction, the chain's KV parked in the engine, and every failure path (404s, 400s, a
response that did not end is not stored)."""

from __future__ import annotations

import openai
import pytest

from paste.errors import InvalidArgumentError
from paste.server import ServerConfig
from paste.server.response_store import ResponseStore, StoredResponse
from test_server_support import always, live_server, openai_client, wait_until

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CALL_TEXT = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
LONG = "Hello there! How can I help you today? " * 40
BLOCK_SIZE = 4  # the tiny engine's (test_session_support.tiny_engine)


def turn(role, text):
    return f"<|im_start|>{role}\n{text}<|im_end|>\n"


def not_found(call, param, code):
    with pytest.raises(openai.NotFoundError) as info:
        call()
    assert info.value.status_code == 404
    assert (info.value.body["param"], info.value.body["code"]) == (param, code)


def test_chained_prompt_is_the_stored_conversation_then_the_input(engine, client):
    with engine.scripted(always("Hello there!")):
        first = client.responses.create(model="tiny", input="Hi!", instructions="Be brief.")
        second = client.responses.create(model="tiny", input="And then?", instructions="Be terse.",
                                         previous_response_id=first.id)
        second_prompt = engine.prompts[-1]
        third = client.responses.create(model="tiny", input="Bye.",
                                        previous_response_id=second.id)
    # the previous instructions are not carried; this request's come first
    assert second_prompt == (turn("system", "Be terse.") + turn("user", "Hi!")
                             + turn("assistant", "Hello there!") + turn("user", "And then?")
                             + "<|im_start|>assistant\n")
    assert engine.prompts[-1] == (turn("user", "Hi!") + turn("assistant", "Hello there!")
                                  + turn("user", "And then?") + turn("assistant", "Hello there!")
                                  + turn("user", "Bye.") + "<|im_start|>assistant\n")
    assert (first.store, first.previous_response_id) == (True, None)
    assert (second.previous_response_id, second.instructions) == (first.id, "Be terse.")
    assert (third.previous_response_id, third.instructions) == (second.id, None)
    assert len({first.id, second.id, third.id}) == 3


def test_function_call_output_answers_the_previous_response_call(engine, client):
    with engine.scripted(always("Let me check.\n" + CALL_TEXT)):
        asked = client.responses.create(model="tiny", input="Weather in Paris?", tools=[WEATHER])
    call = asked.output[1]
    assert (call.type, call.name) == ("function_call", "get_weather")
    answer = [{"type": "function_call_output", "call_id": call.call_id, "output": "22 C"}]
    with engine.scripted(always("It is 22 C.")):
        chained = client.responses.create(model="tiny", input=answer, tools=[WEATHER],
                                          previous_response_id=asked.id)
        chained_prompt = engine.prompts[-1]
        whole = client.responses.create(model="tiny", tools=[WEATHER], store=False, input=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "Let me check."},
            {"type": "function_call", "call_id": call.call_id, "name": "get_weather",
             "arguments": call.arguments}] + answer)
    assert chained.output_text == whole.output_text == "It is 22 C."
    assert chained_prompt == engine.prompts[-1]  # as if the client had sent it all
    user = chained_prompt.index(turn("user", "Weather in Paris?"))
    made = chained_prompt.index("<|im_start|>assistant\nLet me check.")
    answered = chained_prompt.index(turn("tool", "22 C"))
    assert user < made < chained_prompt.index(CALL_TEXT) < answered


def test_retrieve_returns_the_object_create_returned(engine, client):
    with engine.scripted(always("Hello there!")):
        whole = client.responses.create(model="tiny", input="Hi!", instructions="Be brief.")
        events = list(client.responses.create(model="tiny", input="Hi!", stream=True))
    streamed = events[-1].response
    assert events[-1].type == "response.completed"
    assert client.responses.retrieve(whole.id).model_dump() == whole.model_dump()
    assert client.responses.retrieve(streamed.id).model_dump() == streamed.model_dump()
    assert events[0].response.id == streamed.id and streamed.store is True


def test_an_incomplete_response_is_stored_and_chainable(engine, client):
    with engine.scripted(always("Hello there! How can I help you today?")):
        cut = client.responses.create(model="tiny", input="Hi", max_output_tokens=2)
        events = list(client.responses.create(model="tiny", input="Hi", max_output_tokens=2,
                                              stream=True))
    with engine.scripted(always("Sure.")):
        client.responses.create(model="tiny", input="Go on.", previous_response_id=cut.id)
    assert cut.status == "incomplete" and events[-1].type == "response.incomplete"
    assert client.responses.retrieve(cut.id).status == "incomplete"
    assert client.responses.retrieve(events[-1].response.id).status == "incomplete"
    assert engine.prompts[-1] == (turn("user", "Hi") + turn("assistant", cut.output_text)
                                  + turn("user", "Go on.") + "<|im_start|>assistant\n")


def test_store_false_is_neither_retrievable_nor_chainable(engine, client):
    with engine.scripted(always("Hello there!")):
        unstored = client.responses.create(model="tiny", input="Hi!", store=False)
        events = list(client.responses.create(model="tiny", input="Hi!", store=False,
                                              stream=True))
    assert unstored.store is False and events[-1].response.store is False
    count = len(engine.prompts)
    for response_id in (unstored.id, events[-1].response.id):
        not_found(lambda rid=response_id: client.responses.retrieve(rid), "response_id",
                  "response_not_found")
        not_found(lambda rid=response_id: client.responses.create(
                      model="tiny", input="More.", previous_response_id=rid),
                  "previous_response_id", "previous_response_not_found")
    assert len(engine.prompts) == count  # nothing reached the engine


def test_a_store_false_turn_of_a_chain_is_not_stored_but_its_previous_stays(engine, client):
    with engine.scripted(always("Hello there!")):
        first = client.responses.create(model="tiny", input="Hi!")
        branch = client.responses.create(model="tiny", input="More.", store=False,
                                         previous_response_id=first.id)
    assert (branch.store, branch.previous_response_id) == (False, first.id)
    assert client.responses.retrieve(first.id).id == first.id
    not_found(lambda: client.responses.retrieve(branch.id), "response_id", "response_not_found")


def test_delete_forgets_that_response_only(engine, client):
    with engine.scripted(always("Hello there!")):
        first = client.responses.create(model="tiny", input="Hi!")
        second = client.responses.create(model="tiny", input="And?",
                                         previous_response_id=first.id)
    deleted = client.responses.with_raw_response.delete(second.id)
    assert (deleted.status_code, deleted.http_response.json()) == (
        200, {"id": second.id, "object": "response.deleted", "deleted": True})
    not_found(lambda: client.responses.retrieve(second.id), "response_id", "response_not_found")
    not_found(lambda: client.responses.delete(second.id), "response_id", "response_not_found")
    not_found(lambda: client.responses.create(model="tiny", input="x",
                                              previous_response_id=second.id),
              "previous_response_id", "previous_response_not_found")
    assert client.responses.retrieve(first.id).model_dump() == first.model_dump()


def test_unknown_ids_are_404(client):
    not_found(lambda: client.responses.retrieve("resp_nope"), "response_id",
              "response_not_found")
    not_found(lambda: client.responses.delete("resp_nope"), "response_id", "response_not_found")
    not_found(lambda: client.responses.create(model="tiny", input="Hi",
                                              previous_response_id="resp_nope"),
              "previous_response_id", "previous_response_not_found")


def test_bad_fields_are_400_naming_the_field(engine, client):
    with engine.scripted(always("Hello there!")):
        first = client.responses.create(model="tiny", input="Hi!")
    count = len(engine.prompts)
    cases = [({"store": "yes"}, "store"), ({"previous_response_id": 3}, "previous_response_id"),
             ({"previous_response_id": first.id, "input": []}, "input"),
             ({"previous_response_id": first.id, "input": [{"type": "web_search_call"}]},
              "input[0].type")]
    for fields, param in cases:
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(**dict({"model": "tiny", "input": "Hi"}, **fields))
        assert (info.value.status_code, info.value.body["param"]) == (400, param)
    assert len(engine.prompts) == count


def test_the_least_recently_used_response_is_evicted(engine):
    with live_server(engine, max_stored_responses=2) as server, \
            engine.scripted(always("Hello there!")):
        client = openai_client(server)
        one, two = (client.responses.create(model="tiny", input=text) for text in ("1", "2"))
        client.responses.retrieve(one.id)  # one is now more recent than two
        three = client.responses.create(model="tiny", input="3")
        not_found(lambda: client.responses.retrieve(two.id), "response_id",
                  "response_not_found")
        not_found(lambda: client.responses.create(model="tiny", input="x",
                                                  previous_response_id=two.id),
                  "previous_response_id", "previous_response_not_found")
        # chaining reads one (most recent), so storing four evicts three
        four = client.responses.create(model="tiny", input="4", previous_response_id=one.id)
        not_found(lambda: client.responses.retrieve(three.id), "response_id",
                  "response_not_found")
        assert [client.responses.retrieve(r.id).id for r in (one, four)] == [one.id, four.id]


def test_a_response_that_did_not_end_is_not_stored(engine, server, client):
    import httpx

    with engine.scripted(always(LONG)):
        with httpx.stream("POST", server.url + "/v1/responses",
                          json={"model": "tiny", "input": "Hi", "stream": True}) as response:
            lines = (line for line in response.iter_lines() if line.startswith("data: "))
            created = openai.types.responses.ResponseCreatedEvent.model_validate_json(
                next(lines)[len("data: "):])
            handle = engine.handles[-1]
    assert handle.result().finish_reason == "abort"  # the client left: the turn was aborted
    assert wait_until(lambda: engine.core.loop.num_running == 0)
    not_found(lambda: client.responses.retrieve(created.response.id), "response_id",
              "response_not_found")


def reused(response):
    """Tokens of a turn that can be reused by the next one: its prompt and output but the
    last (the end-of-turn token never went through the model, so it has no KV)."""
    return response.usage.input_tokens + response.usage.output_tokens - 1


def test_a_chain_keeps_its_kv_parked_while_it_waits_on_tool_outputs(engine, client):
    brief = dict(model="tiny", instructions="Park it.", tools=[WEATHER])
    with engine.scripted(always("Let me check.\n" + CALL_TEXT)):
        asked = client.responses.create(input="Parked weather, please?", **brief)
    answer = [{"type": "function_call_output", "call_id": asked.output[1].call_id,
               "output": "22 C"}]
    with engine.scripted(always("Parked here!")):
        # the same conversation sent whole, unchained: only the prefix cache's full blocks
        control = client.responses.create(store=False, input=[
            {"role": "user", "content": "Parked weather, please?"},
            {"role": "assistant", "content": "Let me check."},
            {"type": "function_call", "call_id": asked.output[1].call_id,
             "name": "get_weather", "arguments": asked.output[1].arguments}] + answer, **brief)
        assert asked.id in engine.core.sessions  # it made a call: parked for the outputs
        answered = client.responses.create(input=answer, previous_response_id=asked.id,
                                           **brief)
        wait_until(lambda: asked.id not in engine.core.sessions)  # no call: released
        events = list(client.responses.create(input="Parked three?", stream=True,
                                              previous_response_id=answered.id, **brief))
        unstored = client.responses.create(model="tiny", input="Parked four?", store=False)
    third = events[-1].response
    assert control.usage.input_tokens == answered.usage.input_tokens
    assert reused(asked) % BLOCK_SIZE != 0  # so the parked sequence reuses more than blocks
    assert control.usage.input_tokens_details.cached_tokens == (
        reused(asked) // BLOCK_SIZE * BLOCK_SIZE)
    assert answered.usage.input_tokens_details.cached_tokens == reused(asked)
    # released after a turn without calls: the next turn reuses the prefix cache's blocks
    assert third.usage.input_tokens_details.cached_tokens == (
        reused(answered) // BLOCK_SIZE * BLOCK_SIZE)
    assert asked.id not in engine.core.sessions and answered.id not in engine.core.sessions
    assert unstored.id not in engine.core.sessions and control.id not in engine.core.sessions


def test_prompt_cache_key_wins_and_its_chain_inherits_it(engine, client):
    with engine.scripted(always("Keyed here!")):
        first = client.responses.create(model="tiny", input="Keyed one?", prompt_cache_key="mine")
        second = client.responses.create(model="tiny", input="Keyed two?",
                                         previous_response_id=first.id)
        other = client.responses.create(model="tiny", input="Keyed three?",
                                        prompt_cache_key="theirs", previous_response_id=second.id)
    assert first.id not in engine.core.sessions
    assert ("mine" in engine.core.sessions, "theirs" in engine.core.sessions) == (True, True)
    assert second.usage.input_tokens_details.cached_tokens == reused(first)
    # a new key has nothing parked: only the prefix cache's full blocks of the conversation
    assert reused(second) % BLOCK_SIZE != 0
    assert other.usage.input_tokens_details.cached_tokens == (
        reused(second) // BLOCK_SIZE * BLOCK_SIZE)


def test_max_stored_responses_must_be_positive():
    with pytest.raises(InvalidArgumentError, match="max_stored_responses must be >= 1, got 0"):
        ServerConfig(model_id="m", max_stored_responses=0)
    with pytest.raises(InvalidArgumentError, match="max_stored_responses must be >= 1, got -1"):
        ResponseStore(-1)
    assert ServerConfig(model_id="m").max_stored_responses == 1024


def test_the_store_copies_in_and_out():
    store = ResponseStore(2)
    messages = [{"role": "user", "content": "Hi"}]
    store.put(StoredResponse({"id": "resp_a", "output": []}, messages, "resp_a"))
    messages[0]["content"] = "changed"
    got = store.get("resp_a")
    assert got is not None and got.messages == [{"role": "user", "content": "Hi"}]
    got.messages.append({"role": "user", "content": "more"})
    assert store.get("resp_a") == StoredResponse({"id": "resp_a", "output": []},
                                                 [{"role": "user", "content": "Hi"}], "resp_a")
    store.put(StoredResponse({"id": "resp_b"}, [], None))
    store.put(StoredResponse({"id": "resp_c"}, [], None))
    assert store.ids() == ["resp_b", "resp_c"] and len(store) == 2
    assert (store.delete("resp_b"), store.delete("resp_b"), store.ids()) == (True, False,
                                                                             ["resp_c"])


def test_the_stored_assistant_message_keeps_text_and_whole_calls():
    from paste.server.generation import CallPiece, TextPiece, TurnEnd
    from paste.server.responses import ResponsesAssembler
    from paste.server.responses_request import parse_responses_request

    req = parse_responses_request({"model": "tiny", "input": "Hi", "tools": [WEATHER]}, 16,
                                  ResponseStore(1))  # fmt: skip
    assembler = ResponsesAssembler(req)
    for event in [TextPiece("Let me"), TextPiece(" check."),
                  CallPiece(0, "call_a", "get_weather", '{"city": "Paris"}'), TextPiece("And"),
                  CallPiece(1, "call_b", "get_weather", '{"city": "Ro'),  # cut short
                  TurnEnd("length", 5, 0, 9, None)]:
        assembler.add(event)
    assert (assembler.status, assembler.is_done) == ("incomplete", True)
    assert assembler.assistant_message() == {
        "role": "assistant", "content": "Let me check.And",
        "tool_calls": [{"id": "call_a", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    assert req.conversation == [{"role": "user", "content": "Hi"}]
    assert req.turn.cache_key == req.response_id == assembler.snapshot()["id"]


def test_a_chain_is_held_once_and_rebuilt_whole():
    store = ResponseStore(6)
    convo: list[dict] = []
    previous = None
    for i in range(5):  # each turn adds a user message and an answer
        convo = convo + [{"role": "user", "content": f"q{i}"},
                         {"role": "assistant", "content": f"a{i}"}]
        store.put(StoredResponse({"id": f"r{i}"}, convo, "k"), parent=previous)
        previous = f"r{i}"
    assert store.num_messages() == 10  # not 2 + 4 + ... + 10 = 30
    store.put(StoredResponse({"id": "y"}, [], None))  # the store is full (6)
    assert store.get("r2").messages == convo[:6]
    assert store.get("r4").messages == convo  # reading refreshes r0..r4: "y" is now oldest
    store.put(StoredResponse({"id": "x"}, [], None))
    assert store.ids() == ["r0", "r1", "r2", "r3", "r4", "x"]  # "y" went, the chain stayed


def test_a_chain_with_an_earlier_response_gone_is_not_found():
    store = ResponseStore(10)
    store.put(StoredResponse({"id": "r0"}, [{"role": "user", "content": "q0"}], None))
    store.put(StoredResponse({"id": "r1"}, [{"role": "user", "content": "q0"},
                                            {"role": "user", "content": "q1"}], None),
              parent="r0")
    assert store.delete("r0")
    assert store.get("r1") is None  # its conversation cannot be rebuilt: a 404, not a stub
    assert store.response("r1") == {"id": "r1"}  # GET of the object itself still works
    # a parent no longer stored when its child is put: the child keeps its whole conversation
    store.put(StoredResponse({"id": "r2"}, [{"role": "user", "content": "a"},
                                            {"role": "user", "content": "b"}], None),
              parent="gone")
    assert store.get("r2").messages == [{"role": "user", "content": "a"},
                                        {"role": "user", "content": "b"}]


def test_chaining_from_a_response_whose_chain_broke_is_404(engine, client):
    with engine.scripted(always("Hello there!")):
        first = client.responses.create(model="tiny", input="one")
        second = client.responses.create(model="tiny", input="two",
                                         previous_response_id=first.id)
        client.responses.delete(first.id)
        not_found(lambda: client.responses.create(model="tiny", input="three",
                                                  previous_response_id=second.id),
                  "previous_response_id", "previous_response_not_found")
        assert client.responses.retrieve(second.id).id == second.id
