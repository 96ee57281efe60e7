"""vLLM's SageMaker routes and FastAPI's docs: GET and POST /ping answer as GET /health (ok
and failed engine), POST /invocations dispatches by the body ("messages" -> a chat
completion, "prompt" -> a completion, "input" -> a response, streamed too) and refuses any
other body with a typed 400, stays behind the API key, and passes the chosen route's errors
through; /docs, /redoc, /openapi.json are served unless disable_fastapi_docs."""

from __future__ import annotations

import json

import httpx
import pytest

from paste.server import ServerConfig
from test_server_support import always, live_server

USER = [{"role": "user", "content": "Hi"}]
LIMIT = 4096


@pytest.fixture(scope="module")
def server(engine):
    with live_server(engine, max_request_bytes=LIMIT) as srv:
        yield srv


def error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_ping_answers_as_health(engine, server) -> None:
    health = httpx.get(server.url + "/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "model": "tiny"})
    for method in ("GET", "POST"):
        ping = httpx.request(method, server.url + "/ping")
        assert (ping.status_code, ping.json()) == (200, health.json())
    engine.failure = "the engine process exited"  # /health's 503 (shadows the real engine's)
    try:
        health = httpx.get(server.url + "/health")
        assert health.status_code == 503 and health.json()["status"] == "error"
        for method in ("GET", "POST"):
            ping = httpx.request(method, server.url + "/ping")
            assert (ping.status_code, ping.json()) == (503, health.json())
    finally:
        del engine.failure


def _pair(server, path: str, body: dict) -> tuple[dict, dict]:
    """The answers of `path` and of /invocations to the same body."""
    direct = httpx.post(server.url + path, json=body)
    invoked = httpx.post(server.url + "/invocations", json=body)
    assert (direct.status_code, invoked.status_code) == (200, 200)
    return direct.json(), invoked.json()


def test_invocations_with_messages_is_a_chat_completion(engine, server) -> None:
    with engine.scripted(always("Hello there.")):
        direct, invoked = _pair(server, "/v1/chat/completions",
                                {"model": "tiny", "messages": USER, "max_tokens": 16})
    assert invoked["object"] == direct["object"] == "chat.completion"
    assert invoked["id"].startswith("chatcmpl-") and invoked["id"] != direct["id"]
    assert invoked["choices"] == direct["choices"]
    assert invoked["choices"][0]["message"]["content"] == "Hello there."
    assert invoked["usage"]["prompt_tokens"] == direct["usage"]["prompt_tokens"]


def test_invocations_with_prompt_is_a_completion(engine, server) -> None:
    with engine.scripted(always("Paris.")):
        direct, invoked = _pair(server, "/v1/completions",
                                {"model": "tiny", "prompt": "Capital?", "max_tokens": 8})
    assert invoked["object"] == direct["object"] == "text_completion"
    assert invoked["id"].startswith("cmpl-")
    assert invoked["choices"] == direct["choices"]
    assert invoked["usage"] == direct["usage"]


def test_invocations_with_input_is_a_response(engine, server) -> None:
    with engine.scripted(always("Fine.")):
        direct, invoked = _pair(server, "/v1/responses", {"model": "tiny", "input": "Hi"})
    assert invoked["object"] == direct["object"] == "response"
    assert invoked["id"].startswith("resp_") and invoked["status"] == "completed"
    assert invoked["output"][0]["content"][0]["text"] == "Fine."
    stored = httpx.get(server.url + f"/v1/responses/{invoked['id']}")
    assert stored.status_code == 200 and stored.json()["id"] == invoked["id"]


def test_invocations_streams_as_the_route_does(engine, server) -> None:
    with engine.scripted(always("Hi.")), httpx.stream(
            "POST", server.url + "/invocations",
            json={"model": "tiny", "messages": USER, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    chunks = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    assert lines[-1] == "data: [DONE]"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Hi."


def test_messages_wins_over_prompt_and_input(engine, server) -> None:
    with engine.scripted(always("Hi.")):
        answer = httpx.post(server.url + "/invocations", json={
            "model": "tiny", "messages": USER, "prompt": "x", "input": "y"})
    assert answer.status_code == 200 and answer.json()["object"] == "chat.completion"


def test_invocations_refuses_a_body_of_no_known_shape(server) -> None:
    for body in ({"model": "tiny"}, {"model": "tiny", "text": "hi"}):
        err = error(httpx.post(server.url + "/invocations", json=body), 400)
        assert err == {
            "message": "an /invocations body must have 'messages' (a chat completion), "
                       "'prompt' (a completion) or 'input' (a response)",
            "type": "invalid_request_error", "param": None,
            "code": "missing_required_parameter"}


def test_invocations_refuses_json_that_is_not_an_object(server) -> None:
    for content in (b"[1, 2]", b'{"messages": ['):
        err = error(httpx.post(server.url + "/invocations", content=content,
                               headers={"content-type": "application/json"}), 400)
        assert (err["type"], err["code"]) == ("invalid_request_error", "invalid_json")


def test_invocations_refuses_a_body_past_the_limit(server) -> None:
    big = json.dumps({"model": "tiny", "prompt": "x" * LIMIT}).encode()

    def chunks():  # no Content-Length: counted while read
        yield big[: LIMIT // 2]
        yield big[LIMIT // 2:]

    err = error(httpx.post(server.url + "/invocations", content=chunks()), 413)
    assert err["code"] == "request_too_large"
    err = error(httpx.post(server.url + "/invocations", content=big), 413)  # Content-Length
    assert err["code"] == "request_too_large"


def test_invocations_passes_the_routes_errors_through(server) -> None:
    err = error(httpx.post(server.url + "/invocations",
                           json={"model": "gpt-9", "messages": USER}), 404)
    assert (err["param"], err["code"]) == ("model", "model_not_found")
    err = error(httpx.post(server.url + "/invocations", json={"model": "tiny", "prompt": 3}),
                400)
    assert err["param"] == "prompt"


def test_invocations_needs_the_api_key_and_ping_does_not(engine) -> None:
    with live_server(engine, api_key="s3cret") as srv, engine.scripted(always("Hi.")):
        body = {"model": "tiny", "messages": USER}
        err = error(httpx.post(srv.url + "/invocations", json=body), 401)
        assert (err["type"], err["code"]) == ("authentication_error", "invalid_api_key")
        wrong = httpx.post(srv.url + "/invocations", json=body,
                           headers={"authorization": "Bearer nope"})
        assert error(wrong, 401)["code"] == "invalid_api_key"
        keyed = httpx.post(srv.url + "/invocations", json=body,
                           headers={"authorization": "Bearer s3cret"})
        assert keyed.status_code == 200 and keyed.json()["object"] == "chat.completion"
        for method in ("GET", "POST"):
            assert httpx.request(method, srv.url + "/ping").json() == {
                "status": "ok", "model": "tiny"}


def test_docs_are_served_by_default(server) -> None:
    assert ServerConfig(model_id="m").disable_fastapi_docs is False
    for path in ("/docs", "/redoc"):
        page = httpx.get(server.url + path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    schema = httpx.get(server.url + "/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert set(paths["/ping"]) == {"get", "post"} and set(paths["/invocations"]) == {"post"}


def test_docs_are_404_when_disabled(engine) -> None:
    with live_server(engine, disable_fastapi_docs=True) as srv:
        for path in ("/docs", "/redoc", "/openapi.json"):
            err = error(httpx.get(srv.url + path), 404)
            assert (err["type"], err["code"]) == ("invalid_request_error", "not_found")
        assert httpx.get(srv.url + "/ping").status_code == 200
