"""GET /v1/responses/{id}/input_items (server/input_items.py): the items a stored response's
request gave as `input`, each with an id, paged by limit / order / after / before as OpenAI
pages them; read with the openai client and with raw HTTP for misuse."""

from __future__ import annotations

import httpx
import pytest
from starlette.datastructures import QueryParams

from paste.server.errors import BadRequestError
from paste.server.input_items import input_items, page
from paste.server.response_store import ResponseStore, StoredResponse

BODY = {"model": "tiny", "max_output_tokens": 4, "temperature": 0}
CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather",
        "arguments": '{"city": "Paris"}'}
INPUT = [
    {"role": "user", "content": "Weather in Paris?"},
    CALL,
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    {"type": "message", "role": "user", "id": "msg_mine",
     "content": [{"type": "input_text", "text": "And tomorrow?"}]},
]
TOOLS = [{"type": "function", "name": "get_weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def items_of(server, response_id, **query):
    return httpx.get(f"{server.url}/v1/responses/{response_id}/input_items", params=query,
                     timeout=60)


def test_a_string_input_is_one_user_message_item(client):
    response = client.responses.create(**BODY, input="Hello there", instructions="Be brief.")
    listed = client.responses.input_items.list(response.id)
    [item] = [i.model_dump(exclude_unset=True) for i in listed.data]
    assert item["id"].startswith("msg_")
    assert {k: v for k, v in item.items() if k != "id"} == {
        "type": "message", "role": "user", "status": "completed",
        "content": [{"type": "input_text", "text": "Hello there"}]}  # no instructions item
    assert (listed.first_id, listed.last_id, listed.has_more) == (item["id"], item["id"], False)


def test_items_in_both_orders_with_their_ids(server):
    response = httpx.post(f"{server.url}/v1/responses",
                          json=dict(BODY, input=INPUT, tools=TOOLS), timeout=60).json()
    listed = items_of(server, response["id"], order="asc").json()
    data = listed["data"]
    assert [i["type"] for i in data] == ["message", "function_call", "function_call_output",
                                         "message"]
    assert [i["id"].split("_")[0] for i in data[:3]] == ["msg", "fc", "fco"]
    assert data[3]["id"] == "msg_mine"  # a client's id is kept
    assert data[0]["content"] == [{"type": "input_text", "text": "Weather in Paris?"}]
    assert {k: data[1][k] for k in CALL} == CALL and data[1]["status"] == "completed"
    assert (data[2]["call_id"], data[2]["output"]) == ("call_1", "sunny")
    assert data[3]["content"] == INPUT[3]["content"]
    desc = items_of(server, response["id"]).json()  # desc is the default
    assert desc["data"] == data[::-1]
    assert (desc["first_id"], desc["last_id"], desc["has_more"]) == (
        "msg_mine", data[0]["id"], False)


def test_pages_walk_every_item_with_after_and_before(client, server):
    response = client.responses.create(**BODY, input=INPUT, tools=TOOLS)
    ids = [i["id"] for i in items_of(server, response.id, order="asc").json()["data"]]
    first = items_of(server, response.id, order="asc", limit=3).json()
    assert ([i["id"] for i in first["data"]], first["has_more"]) == (ids[:3], True)
    second = items_of(server, response.id, order="asc", limit=3, after=first["last_id"]).json()
    assert ([i["id"] for i in second["data"]], second["has_more"]) == (ids[3:], False)
    back = items_of(server, response.id, order="asc", limit=2, before=ids[3]).json()
    assert ([i["id"] for i in back["data"]], back["has_more"]) == (ids[1:3], True)
    both = items_of(server, response.id, order="asc", after=ids[0], before=ids[3]).json()
    assert [i["id"] for i in both["data"]] == ids[1:3]
    # the openai client follows the pages itself
    walked = [i.id for i in client.responses.input_items.list(response.id, limit=1,
                                                               order="desc")]
    assert walked == ids[::-1]
    empty = items_of(server, response.id, order="asc", after=ids[-1]).json()
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None,
                     "has_more": False}


def test_a_chained_response_lists_only_its_own_input(client):
    first = client.responses.create(**BODY, input="One")
    second = client.responses.create(**BODY, input="Two", previous_response_id=first.id)
    texts = [i.content[0].text for i in client.responses.input_items.list(second.id)]
    assert texts == ["Two"]


@pytest.mark.parametrize(("query", "param"), [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "x"}, "limit"),
    ({"order": "up"}, "order"), ({"after": "msg_nope"}, "after"),
    ({"before": "msg_nope"}, "before"), ({"include": "bogus"}, "include"),
])
def test_bad_queries_are_a_400_naming_the_parameter(server, query, param):
    response = httpx.post(f"{server.url}/v1/responses", json=dict(BODY, input="Hi"),
                          timeout=60).json()
    reply = items_of(server, response["id"], **query)
    assert (reply.status_code, reply.json()["error"]["param"]) == (400, param)


def test_an_unknown_or_deleted_response_is_a_404(server):
    assert items_of(server, "resp_nope").json()["error"]["code"] == "response_not_found"
    response = httpx.post(f"{server.url}/v1/responses", json=dict(BODY, input="Hi"),
                          timeout=60).json()
    httpx.delete(f"{server.url}/v1/responses/{response['id']}", timeout=60)
    assert items_of(server, response["id"]).status_code == 404


def test_include_entries_of_responses_are_accepted():
    items = input_items("Hi")
    query = QueryParams([("include[]", "message.output_text.logprobs"),
                         ("include", "reasoning.encrypted_content")])
    known = frozenset({"message.output_text.logprobs", "reasoning.encrypted_content"})
    assert page(items, query, known)["data"] == items
    with pytest.raises(BadRequestError, match="'include' entry 'x' is not supported"):
        page(items, QueryParams([("include[]", "x")]), known)


def test_the_store_keeps_a_copy_of_the_items():
    store = ResponseStore(4)
    items = input_items([{"role": "assistant", "content": "Earlier answer"}])
    assert items[0]["content"] == [{"type": "output_text", "text": "Earlier answer"}]
    store.put(StoredResponse({"id": "r"}, [], None, input_items=items))
    items[0]["content"] = []
    kept = store.input_items("r")
    assert kept is not None and kept[0]["content"] == [
        {"type": "output_text", "text": "Earlier answer"}]
    kept[0]["role"] = "changed"
    assert store.input_items("r")[0]["role"] == "assistant"
    assert store.input_items("nope") is None
