"""POST /tokenize and /detokenize: the exact ids the completion routes compute, the round
trip back to text, and 400s / 404s naming their field."""

from __future__ import annotations

import httpx
import pytest

from paste.server.prompt import render_prompt
from paste.server.tools_schema import parse_tools
from paste.server.turn import TurnRequest, normalize_messages
from paste.session.parsers import parser_for_engine
from test_server_support import always

MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def post(server, path, body):
    return httpx.post(server.url + path, json=body)


def test_prompt_ids_are_the_ones_legacy_completions_use(engine, server, client):
    out = post(server, "/tokenize", {"model": "tiny", "prompt": "Hello world"}).json()
    assert out["tokens"] == list(engine.tokenizer.encode("Hello world", add_special_tokens=True))
    assert out["count"] == len(out["tokens"]) and out["max_model_len"] == \
        engine.core.max_model_len
    completion = client.completions.create(model="tiny", prompt="Hello world", max_tokens=1)
    assert completion.usage.prompt_tokens == out["count"]
    bare = post(server, "/tokenize", {"prompt": "Hello world", "add_special_tokens": False})
    assert bare.json()["tokens"] == list(engine.tokenizer.encode("Hello world",
                                                                 add_special_tokens=False))


def test_messages_give_the_exact_chat_prompt(engine, server, client):
    out = post(server, "/tokenize", {"messages": MESSAGES, "tools": [TOOL]}).json()
    turn = TurnRequest(messages=normalize_messages(MESSAGES), tools=parse_tools([TOOL], flat=False))
    assert out["tokens"] == render_prompt(engine, turn, parser_for_engine(engine))
    with engine.scripted(always("Sunny.")):
        chat = client.chat.completions.create(model="tiny", messages=MESSAGES, tools=[TOOL])
    assert chat.usage.prompt_tokens == out["count"]


def test_detokenize_round_trips(engine, server):
    ids = post(server, "/tokenize", {"prompt": "The quick brown fox",
                                     "add_special_tokens": False}).json()["tokens"]
    assert post(server, "/detokenize", {"tokens": ids}).json() == {"prompt": "The quick brown fox"}
    assert post(server, "/detokenize", {"tokens": []}).json() == {"prompt": ""}


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/tokenize", {}, 400, "prompt"),
        ("/tokenize", {"prompt": 5}, 400, "prompt"),
        ("/tokenize", {"prompt": "a", "messages": MESSAGES}, 400, "prompt"),
        ("/tokenize", {"messages": []}, 400, "messages"),
        ("/tokenize", {"messages": MESSAGES, "add_generation_prompt": "no"}, 400,
         "add_generation_prompt"),
        ("/tokenize", {"prompt": "a", "add_special_tokens": "yes"}, 400, "add_special_tokens"),
        ("/tokenize", {"prompt": "a", "model": "other"}, 404, "model"),
        ("/detokenize", {"tokens": [1, -1]}, 400, "tokens"),
        ("/detokenize", {"tokens": [1, 10**9]}, 400, "tokens"),
        ("/detokenize", {"tokens": "1 2"}, 400, "tokens"),
        ("/detokenize", {"tokens": [True]}, 400, "tokens"),
    ],
)
def test_bad_bodies_name_their_field(server, path, body, status, param):
    response = post(server, path, body)
    assert response.status_code == status
    assert response.json()["error"]["param"] == param
