"""The Conversations API (server/conversation_api.py, conversation_store.py) through the real
openai client: conversation and item CRUD, Responses requests that continue a conversation
(the prompt is its items then the input; the exchange is appended), tool calls answered
across turns, and every failure path (404s and 400s naming the field)."""

from __future__ import annotations

import httpx
import openai
import pytest

from paste.errors import InvalidArgumentError
from paste.server.conversation_store import ConversationStore
from test_server_support import always

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CALL_TEXT = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
SEED = [{"type": "message", "role": "user", "content": "My name is Ada."}]


def turn(role, text):
    return f"<|im_start|>{role}\n{text}<|im_end|>\n"


def error_of(call, status):
    kind = {400: openai.BadRequestError, 404: openai.NotFoundError}[status]
    with pytest.raises(kind) as info:
        call()
    return info.value.body["param"], info.value.body["code"]


def texts(items):
    return [(i.type, getattr(i, "role", None), i.content[0].text if i.type == "message"
             else None) for i in items]


def test_conversation_crud(client):
    conv = client.conversations.create(items=SEED, metadata={"topic": "names"})
    assert conv.id.startswith("conv_") and conv.object == "conversation"
    assert conv.metadata == {"topic": "names"} and conv.created_at > 0
    assert client.conversations.retrieve(conv.id) == conv
    updated = client.conversations.update(conv.id, metadata={"topic": "ada", "n": "1"})
    assert (updated.id, updated.metadata) == (conv.id, {"topic": "ada", "n": "1"})
    deleted = client.conversations.delete(conv.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (conv.id, "conversation.deleted",
                                                             True)
    assert error_of(lambda: client.conversations.retrieve(conv.id), 404) == (
        "conversation_id", "conversation_not_found")
    assert error_of(lambda: client.conversations.delete(conv.id), 404)[1] == (
        "conversation_not_found")


def test_items_are_added_listed_read_and_deleted(client):
    conv = client.conversations.create(items=SEED)
    added = client.conversations.items.create(conv.id, items=[
        {"role": "assistant", "content": "Hello Ada."},
        {"type": "message", "role": "user", "id": "msg_mine",
         "content": [{"type": "input_text", "text": "Thanks."}]}])
    assert [i.id for i in added.data][1] == "msg_mine" and added.has_more is False
    assert (added.first_id, added.last_id) == (added.data[0].id, "msg_mine")
    listed = client.conversations.items.list(conv.id, order="asc")
    assert texts(listed.data) == [("message", "user", "My name is Ada."),
                                  ("message", "assistant", "Hello Ada."),
                                  ("message", "user", "Thanks.")]
    assert listed.data[1].content[0].type == "output_text"
    one = client.conversations.items.retrieve("msg_mine", conversation_id=conv.id)
    assert one.id == "msg_mine" and one.content[0].text == "Thanks."
    after = client.conversations.items.delete("msg_mine", conversation_id=conv.id)
    assert after.id == conv.id
    assert [i.id for i in client.conversations.items.list(conv.id)] == [
        i.id for i in listed.data[:2]][::-1]  # desc by default
    assert error_of(lambda: client.conversations.items.retrieve(
        "msg_mine", conversation_id=conv.id), 404) == ("item_id", "item_not_found")
    assert error_of(lambda: client.conversations.items.delete(
        "msg_mine", conversation_id=conv.id), 404) == ("item_id", "item_not_found")


def test_a_response_continues_the_conversation_and_extends_it(engine, client):
    conv = client.conversations.create(items=SEED)
    with engine.scripted(always("Hello Ada.")):
        first = client.responses.create(model="tiny", input="What is my name?",
                                        conversation=conv.id, instructions="Be brief.")
        assert engine.prompts[-1] == (turn("system", "Be brief.") + turn("user", "My name is Ada.")
                                      + turn("user", "What is my name?")
                                      + "<|im_start|>assistant\n")
        second = client.responses.create(model="tiny", input="Again?",
                                         conversation={"id": conv.id})
    assert first.conversation.id == second.conversation.id == conv.id
    assert engine.prompts[-1] == (turn("user", "My name is Ada.")
                                  + turn("user", "What is my name?")
                                  + turn("assistant", "Hello Ada.") + turn("user", "Again?")
                                  + "<|im_start|>assistant\n")
    items = client.conversations.items.list(conv.id, order="asc").data
    assert texts(items) == [("message", "user", "My name is Ada."),
                            ("message", "user", "What is my name?"),
                            ("message", "assistant", "Hello Ada."),
                            ("message", "user", "Again?"),
                            ("message", "assistant", "Hello Ada.")]
    assert items[2].id == first.output[0].id  # the output item as the response gave it


def test_a_tool_call_is_answered_in_the_next_turn(engine, client):
    conv = client.conversations.create()
    with engine.scripted(always("Let me check.\n" + CALL_TEXT)):
        asked = client.responses.create(model="tiny", input="Weather in Paris?",
                                        tools=[WEATHER], conversation=conv.id)
    call = asked.output[1]
    answer = [{"type": "function_call_output", "call_id": call.call_id, "output": "22 C"}]
    with engine.scripted(always("It is 22 C.")):
        done = client.responses.create(model="tiny", input=answer, tools=[WEATHER],
                                       conversation=conv.id)
    prompt = engine.prompts[-1]
    assert done.output_text == "It is 22 C."
    assert (prompt.index(turn("user", "Weather in Paris?")) < prompt.index(CALL_TEXT)
            < prompt.index(turn("tool", "22 C")))
    kinds = [i.type for i in client.conversations.items.list(conv.id, order="asc").data]
    assert kinds == ["message", "message", "function_call", "function_call_output", "message"]


def test_responses_misuse_of_conversation(client):
    conv = client.conversations.create(items=SEED)
    first = client.responses.create(model="tiny", input="Hi", max_output_tokens=2)
    assert error_of(lambda: client.responses.create(
        model="tiny", input="Hi", conversation=conv.id, previous_response_id=first.id), 400)[
        0] == "conversation"
    assert error_of(lambda: client.responses.create(
        model="tiny", input="Hi", conversation="conv_nope"), 404) == (
        "conversation", "conversation_not_found")
    assert error_of(lambda: client.responses.create(
        model="tiny", input="Hi", extra_body={"conversation": 5}), 400)[0] == "conversation"
    # a refused request leaves the conversation as it was
    assert len(client.conversations.items.list(conv.id).data) == 1


@pytest.mark.parametrize(("path", "body", "param"), [
    ("", {"items": [{"type": "bogus"}]}, "items[0].type"),
    ("", {"items": [{"role": "robot", "content": "x"}]}, "items[0].role"),
    ("", {"items": "Hi"}, "items"),
    ("", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ("", {"metadata": {"k" * 65: "v"}}, "metadata"),
    ("", {"metadata": {"k": 1}}, "metadata"),
    ("/items", {"items": []}, "items"),
    ("/items", {"items": SEED * 21}, "items"),
    ("/update", {}, "metadata"),
])
def test_bad_bodies_are_a_400_naming_the_field(server, path, body, param):
    url = f"{server.url}/v1/conversations"
    if path:
        conv = httpx.post(url, json={}, timeout=60).json()
        url += f"/{conv['id']}" + ("" if path == "/update" else path)
    reply = httpx.post(url, json=body, timeout=60)
    assert (reply.status_code, reply.json()["error"]["param"]) == (400, param)


def test_the_store_is_a_bounded_lru_of_copies():
    with pytest.raises(InvalidArgumentError):
        ConversationStore(0)
    store = ConversationStore(2)
    a = store.create([{"id": "i1", "type": "message"}], {})
    b = store.create([], {})
    assert store.get(a["id"]) is not None  # a is now the most recent
    store.create([], {})
    assert (store.get(b["id"]), len(store)) == (None, 2)  # b was the least recently used
    items = store.items(a["id"])
    assert items is not None
    items[0]["type"] = "changed"
    assert store.items(a["id"]) == [{"id": "i1", "type": "message"}]
    assert store.delete_item(a["id"], "i2") is False
    assert store.delete_item("nope", "i1") is None
    assert store.add_items("nope", []) is None
