"""Client errors get exact statuses and OpenAI error bodies; the API key; request size; client
disconnects free the engine sequence (streamed and not); the server keeps serving."""

from __future__ import annotations

import json
import socket

import httpx
import openai
import pytest

from test_server_support import (
    always,
    live_server,
    make_engine,
    openai_client,
    raw_post,
    wait_until,
)

LIMIT = 64 * 1024
LONG = "Hello there! How can I help you today? " * 40
USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def server(engine):
    with live_server(engine, max_request_bytes=LIMIT) as srv:
        yield srv


def post(server, path, content, **kwargs):
    return httpx.post(server.url + path, content=content,
                      headers={"content-type": "application/json"}, **kwargs)


def error(response, status):
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def chat_body(**overrides):
    return json.dumps(dict({"model": "tiny", "messages": USER}, **overrides))


def test_malformed_json_is_400(server):
    err = error(post(server, "/v1/chat/completions", b'{"model": "tiny", "messages": ['), 400)
    assert (err["type"], err["code"]) == ("invalid_request_error", "invalid_json")
    err = error(post(server, "/v1/responses", b"[1, 2]"), 400)
    assert err["code"] == "invalid_json"


def test_unknown_model_is_404_model_not_found(server):
    err = error(post(server, "/v1/chat/completions", chat_body(model="gpt-9")), 404)
    assert (err["type"], err["param"], err["code"]) == (
        "invalid_request_error", "model", "model_not_found")
    with pytest.raises(openai.NotFoundError):
        openai_client(server).responses.create(model="gpt-9", input="hi")


def test_invalid_tool_schema_is_400_naming_the_field(server):
    bad_name = [{"type": "function", "function": {"name": "no spaces allowed"}}]
    err = error(post(server, "/v1/chat/completions", chat_body(tools=bad_name)), 400)
    assert (err["param"], err["code"]) == ("tools[0].function.name", "invalid_tool_schema")
    bad_params = [{"type": "function", "name": "f", "parameters": {"type": "array"}}]
    body = json.dumps({"model": "tiny", "input": "hi", "tools": bad_params})
    err = error(post(server, "/v1/responses", body), 400)
    assert (err["param"], err["code"]) == ("tools[0].parameters", "invalid_tool_schema")
    err = error(post(server, "/v1/chat/completions", chat_body(
        tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice={"type": "function", "function": {"name": "g"}})), 400)
    assert err["param"] == "tool_choice"


def test_invalid_fields_are_400(server):
    cases = [
        (chat_body(messages=[]), "messages"),
        (chat_body(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
        (chat_body(temperature=3), "temperature"),
        (chat_body(max_tokens=0), "max_tokens"),
        (chat_body(max_tokens=10**12), "max_tokens"),  # would overflow the C++ int32
        (chat_body(seed=2**64), "seed"),
        (chat_body(n=0), "n"),
        (chat_body(stop=["a", "b", "c", "d", "e"]), "stop"),
        (json.dumps({"messages": USER}), "model"),
    ]
    for body, param in cases:
        assert error(post(server, "/v1/chat/completions", body), 400)["param"] == param


def test_unknown_session_and_route_are_404(server):
    err = error(httpx.get(server.url + "/v1/sessions/nope"), 404)
    assert err["code"] == "session_not_found"
    assert error(httpx.delete(server.url + "/v1/sessions/nope"), 404)["code"] == "session_not_found"
    assert error(httpx.get(server.url + "/v1/nothing-here"), 404)["code"] == "not_found"


def test_oversized_request_is_413_with_and_without_content_length(server):
    big = chat_body(messages=[{"role": "user", "content": "x" * LIMIT}])
    err = error(post(server, "/v1/chat/completions", big), 413)
    assert (err["type"], err["code"]) == ("invalid_request_error", "request_too_large")

    def chunks():  # no Content-Length: the body is counted while read
        yield big[: LIMIT // 2].encode()
        yield big[LIMIT // 2 :].encode()

    assert error(post(server, "/v1/chat/completions", chunks()), 413)["code"] == "request_too_large"


def test_prompt_longer_than_the_context_is_400_streamed_or_not(engine, server):
    long_messages = [{"role": "user", "content": "Paris " * 5000}]
    assert len(engine.chat_prompt(long_messages)) > engine.core.max_model_len
    client = openai_client(server)
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="tiny", messages=long_messages, stream=stream)
        assert info.value.status_code == 400
        assert info.value.body["param"] == "messages"
        assert "max_model_len" in info.value.body["message"]


def test_api_key_is_required_when_configured(engine):
    with live_server(engine, api_key="s3cret") as srv:
        assert error(httpx.get(srv.url + "/v1/models"), 401)["code"] == "invalid_api_key"
        wrong = httpx.get(srv.url + "/v1/models", headers={"authorization": "Bearer nope"})
        assert error(wrong, 401)["type"] == "authentication_error"
        with pytest.raises(openai.AuthenticationError):
            openai_client(srv, api_key="nope").models.list()
        assert [m.id for m in openai_client(srv, api_key="s3cret").models.list()] == ["tiny"]
        assert httpx.get(srv.url + "/health").json() == {"status": "ok", "model": "tiny"}
        for path in ("/tokenize", "/detokenize"):
            assert error(httpx.post(srv.url + path, json={"prompt": "a", "tokens": [1]}),
                         401)["code"] == "invalid_api_key"
        keyed = httpx.post(srv.url + "/tokenize", json={"prompt": "a"},
                           headers={"authorization": "Bearer s3cret"})
        assert keyed.status_code == 200 and keyed.json()["count"] >= 1


def test_streaming_client_disconnect_aborts_the_sequence(engine, server):
    with engine.scripted(always(LONG)):
        with httpx.stream("POST", server.url + "/v1/chat/completions",
                          content=chat_body(stream=True),
                          headers={"content-type": "application/json"}) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
            handle = engine.handles[-1]
    final = handle.result()  # the response is closed: the server must abort the request
    assert final.finish_reason == "abort"
    assert len(final.token_ids) < len(engine.encode(LONG))
    assert wait_until(lambda: engine.core.loop.num_running == 0)


def test_streaming_client_disconnect_aborts_every_choice(engine, server):
    count = len(engine.handles)
    with engine.scripted(always(LONG)):
        with httpx.stream("POST", server.url + "/v1/chat/completions",
                          content=chat_body(stream=True, n=3),
                          headers={"content-type": "application/json"}) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
            # the other choices start once the first has output; wait until all three run
            assert wait_until(lambda: len(engine.handles) == count + 3)
            handles = engine.handles[count:]
    finals = [h.result() for h in handles]  # closed: every choice's request is aborted
    assert [f.finish_reason for f in finals] == ["abort"] * 3
    assert all(len(f.token_ids) < len(engine.encode(LONG)) for f in finals)
    assert wait_until(lambda: engine.core.loop.num_running == 0)


@pytest.mark.parametrize("n", [1, 3])
def test_non_streaming_client_disconnect_aborts_every_choice(engine, server, n):
    body = chat_body(n=n).encode()
    request = raw_post("/v1/chat/completions", body)
    count = len(engine.handles)
    with engine.scripted(always(LONG)):
        with socket.create_connection((server.host, server.port)) as sock:
            sock.sendall(request)
            assert wait_until(lambda: len(engine.handles) == count + n)
            handles = engine.handles[count:]
            assert wait_until(lambda: all(h.request is not None and h.request.output_ids
                                          for h in handles))
    finals = [h.result() for h in handles]
    assert [f.finish_reason for f in finals] == ["abort"] * n
    assert wait_until(lambda: engine.core.loop.num_running == 0)


def test_the_server_still_answers_after_the_errors(engine, server):
    with engine.scripted(always("Still here.")):
        out = openai_client(server).chat.completions.create(model="tiny", messages=USER,
                                                            max_tokens=2**31 - 1)
    assert out.choices[0].message.content == "Still here."  # max_tokens lowered to the context


def test_engine_shutdown_mid_stream_ends_it_with_an_error_then_503(tmp_path_factory):
    doomed = make_engine(tmp_path_factory)
    with live_server(doomed) as srv, doomed.scripted(always(LONG)):
        with httpx.stream("POST", srv.url + "/v1/chat/completions",
                          content=chat_body(stream=True),
                          headers={"content-type": "application/json"}) as response:
            lines = (line for line in response.iter_lines() if line)
            assert next(lines).startswith("data: {")
            doomed.shutdown()
            rest = list(lines)
        assert rest[-1] == "data: [DONE]"
        assert json.loads(rest[-2][len("data: "):]) == {"error": {
            "message": "the engine was shut down", "type": "server_error", "param": None,
            "code": None}}
        err = error(post(srv, "/v1/chat/completions", chat_body()), 503)
        assert (err["type"], err["message"]) == ("server_error", "the engine is shut down")
