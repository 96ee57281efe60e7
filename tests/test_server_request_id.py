"""X-Request-Id answers (server/request_id.py, ServerConfig.request_id_headers): the request's
own id echoed byte for byte, a fresh uuid4 hex otherwise (an empty one counts as none), on
route answers, streams, error answers and the guard's 401, exactly one header each; none
when the switch is off."""

from __future__ import annotations

import re

import httpx
import pytest

from paste.server import ServerConfig
from test_server_support import always, live_server

USER = [{"role": "user", "content": "Hi"}]
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def server(engine):
    with live_server(engine, request_id_headers=True, api_key="k") as srv:
        yield srv


KEY = {"authorization": "Bearer k"}


def test_the_request_id_is_echoed_exactly(server) -> None:
    sent = "client-42/ABC_def.1"
    response = httpx.get(server.url + "/v1/models", headers={**KEY, "x-request-id": sent})
    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == [sent]


def test_without_one_a_fresh_uuid4_hex(server) -> None:
    first = httpx.get(server.url + "/health").headers.get_list("x-request-id")
    second = httpx.get(server.url + "/health",
                       headers={"x-request-id": ""}).headers.get_list("x-request-id")
    assert len(first) == 1 and HEX32.fullmatch(first[0])
    assert len(second) == 1 and HEX32.fullmatch(second[0])
    assert first != second


def test_errors_and_the_guard_carry_it(server) -> None:
    refused = httpx.get(server.url + "/v1/models", headers={"x-request-id": "r-401"})
    assert refused.status_code == 401 and refused.headers.get_list("x-request-id") == ["r-401"]
    missing = httpx.get(server.url + "/nope", headers={"x-request-id": "r-404"})
    assert missing.status_code == 404 and missing.headers.get_list("x-request-id") == ["r-404"]
    bad = httpx.post(server.url + "/v1/chat/completions", headers={**KEY, "x-request-id": "b"},
                     json={"model": "tiny"})
    assert bad.status_code == 400 and bad.headers.get_list("x-request-id") == ["b"]


def test_a_stream_carries_it(engine, server) -> None:
    with engine.scripted(always("Hi.")), httpx.stream(
            "POST", server.url + "/v1/chat/completions",
            headers={**KEY, "x-request-id": "s-1"},
            json={"model": "tiny", "messages": USER, "stream": True}) as response:
        lines = [line for line in response.iter_lines() if line]
        assert response.headers.get_list("x-request-id") == ["s-1"]
        assert response.headers["content-type"].startswith("text/event-stream")
    assert lines[-1] == "data: [DONE]"


def test_off_by_default_and_then_absent(engine) -> None:
    assert ServerConfig(model_id="m").request_id_headers is False
    with live_server(engine) as srv:
        response = httpx.get(srv.url + "/health", headers={"x-request-id": "given"})
        assert response.status_code == 200 and "x-request-id" not in response.headers
