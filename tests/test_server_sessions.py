"""Native sessions over HTTP: create with tools chosen by name, run a message (the agent loop
runs server-side; events streamed as SSE), read the transcript, delete; busy and unknown
sessions; a tool the session was not given cannot run."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from paste.tools import ToolRegistry
from test_server_support import HANG_GUARD_S, live_server

CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
ANSWER = "It is 22 C in Paris."


def weather_script(prompt: str) -> str:
    """Call get_weather until its result is in the conversation, then answer."""
    return ANSWER if "<|im_start|>tool\n" in prompt else CALL


@pytest.fixture(scope="module")
def gate():
    return threading.Event()


@pytest.fixture(scope="module")
def registry(gate):
    reg = ToolRegistry()

    @reg.tool(effect="read_only", timeout_s=HANG_GUARD_S)
    def get_weather(city: str) -> str:
        """Weather of a city."""
        return f"22 C in {city}"

    @reg.tool(effect="read_only", timeout_s=HANG_GUARD_S)
    def wait_gate(tag: str) -> str:
        """Returns once the test opens the gate."""
        gate.wait(HANG_GUARD_S)
        return f"opened {tag}"

    return reg


@pytest.fixture(scope="module")
def server(engine, registry):
    with live_server(engine, tools=registry) as srv:
        yield srv


def sse_events(response):
    """(event name, payload) pairs of an SSE response."""
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: "):])))
    return events


def create(server, **body):
    response = httpx.post(server.url + "/v1/sessions", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_session_runs_the_tool_loop_and_streams_events(engine, server):
    session = create(server, tools=["get_weather"], tenant="acme", system="Be brief.")
    assert (session["object"], session["tenant"], session["tools"]) == (
        "session", "acme", ["get_weather"])
    url = f"{server.url}/v1/sessions/{session['id']}"
    with engine.scripted(weather_script):
        with httpx.stream("POST", url + "/messages", json={"content": "Weather in Paris?"},
                          timeout=HANG_GUARD_S) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response)
    kinds = [name for name, _ in events]
    assert kinds[:2] == ["tool_call", "tool_result"] and kinds[-1] == "final"
    assert set(kinds[2:-1]) == {"token"}
    call, result, final = events[0][1], events[1][1], events[-1][1]
    assert (call["name"], call["arguments"]) == ("get_weather", {"city": "Paris"})
    assert (result["call_id"], result["ok"], result["content"], result["error_kind"]) == (
        call["call_id"], True, "22 C in Paris", None)
    assert "".join(p["text"] for n, p in events if n == "token") == ANSWER
    assert (final["text"], final["status"]) == (ANSWER, "completed")
    assert final["metrics"]["num_turns"] == 2 and final["metrics"]["num_tool_calls"] == 1

    got = httpx.get(url).json()
    assert [m["role"] for m in got["messages"]] == ["system", "user", "assistant", "tool",
                                                    "assistant"]
    assert got["messages"][3] == {"role": "tool", "tool_call_id": call["call_id"],
                                  "name": "get_weather", "content": "22 C in Paris"}
    assert got["messages"][4] == {"role": "assistant", "content": ANSWER}
    assert got["status"] == "completed"

    deleted = httpx.delete(url)
    assert deleted.json() == {"id": session["id"], "object": "session.deleted", "deleted": True}
    assert httpx.get(url).status_code == 404


def test_non_streamed_message_returns_the_new_messages(engine, server):
    session = create(server, tools=["get_weather"])
    with engine.scripted(weather_script):
        response = httpx.post(f"{server.url}/v1/sessions/{session['id']}/messages",
                              json={"content": "Weather?", "stream": False}, timeout=HANG_GUARD_S)
    body = response.json()
    assert (body["status"], body["text"]) == ("completed", ANSWER)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool", "assistant"]


def test_a_tool_outside_the_session_is_not_run(engine, server):
    session = create(server, tools=[])
    script = lambda p: ANSWER if "<|im_start|>tool\n" in p else CALL  # noqa: E731
    with engine.scripted(script):
        body = httpx.post(f"{server.url}/v1/sessions/{session['id']}/messages",
                          json={"content": "Weather?", "stream": False},
                          timeout=HANG_GUARD_S).json()
    tool_message = body["messages"][2]
    assert tool_message["role"] == "tool" and "get_weather" in tool_message["content"]
    assert "22 C" not in tool_message["content"]


def test_unknown_tool_name_is_400_and_busy_session_is_409(engine, server, gate):
    response = httpx.post(server.url + "/v1/sessions", json={"tools": ["rm_rf"]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_tool"

    session = create(server, tools=["wait_gate"])
    url = f"{server.url}/v1/sessions/{session['id']}/messages"
    gated = '{"name": "wait_gate", "arguments": {"tag": "a"}}'
    with engine.scripted(lambda p: "done" if "<|im_start|>tool\n" in p else gated):
        with httpx.stream("POST", url, json={"content": "go"}, timeout=HANG_GUARD_S) as first:
            lines = first.iter_lines()
            assert next(lines) == "event: tool_call"  # the run is now waiting in the tool
            second = httpx.post(url, json={"content": "again"})
            assert second.status_code == 409
            assert second.json()["error"]["code"] == "session_busy"
            gate.set()
            rest = list(lines)
    assert 'data: {"type": "final", "text": "done", "status": "completed"' in "\n".join(rest)
