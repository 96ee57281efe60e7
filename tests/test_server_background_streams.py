"""Resumable background streams (server/background_responses.py): a response created with
`background` and `stream` streams its events from a log that GET
/v1/responses/{id}?stream=true&starting_after=N reads again from any point, while the turn
runs and after it ended; the turn goes on when its reader leaves. Streams are read with the
openai client, misuse with raw HTTP."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from paste.server import background_responses
from paste.server.background_responses import BackgroundResponses, EventLog
from paste.server.response_store import ResponseStore
from test_server_support import wait_until

BODY = {"model": "tiny", "input": "Tell me a story.", "max_output_tokens": 12,
        "temperature": 0}
LONG = dict(BODY, max_output_tokens=3500, ignore_eos=True)  # seconds of decoding
LONG_SDK = dict(BODY, max_output_tokens=3500, extra_body={"ignore_eos": True})  # the same


def events_of(stream) -> list[dict]:
    return [event.model_dump(exclude_unset=True) for event in stream]


def stream_events(client, **body) -> list[dict]:
    return events_of(client.responses.create(**body, background=True, stream=True))


def text_of(events: list[dict]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


def get(server, response_id, **query):
    return httpx.get(f"{server.url}/v1/responses/{response_id}", params=query, timeout=60)


def sse_events(lines) -> list[dict]:
    return [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ")]


def test_a_background_stream_is_the_synchronous_answer_then_resumes_anywhere(client, server):
    events = stream_events(client, **BODY)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    created, in_progress, last = events[0], events[1], events[-1]
    assert (created["type"], created["response"]["status"]) == ("response.created", "queued")
    assert created["response"]["background"] is True
    assert (in_progress["type"], in_progress["response"]["status"]) == (
        "response.in_progress", "in_progress")
    assert (last["type"], last["response"]["status"]) == ("response.incomplete", "incomplete")
    plain = client.responses.create(**BODY)
    assert text_of(events) == plain.output_text and text_of(events) != ""
    assert last["response"]["usage"]["output_tokens"] == plain.usage.output_tokens == 12
    response_id = created["response"]["id"]
    stored = client.responses.retrieve(response_id).model_dump(exclude_unset=True)
    assert stored == last["response"]
    # resuming after event k gives exactly the events after it, as the first reader saw them
    for k in (0, 5, len(events) - 2, len(events) - 1, len(events) + 10):
        again = events_of(client.responses.retrieve(response_id, stream=True, starting_after=k))
        assert again == events[k + 1:]
    assert events_of(client.responses.retrieve(response_id, stream=True)) == events


def test_the_turn_goes_on_when_its_reader_leaves_and_a_new_reader_follows_it(server, engine):
    body = dict(LONG, max_output_tokens=300, background=True, stream=True)
    seen: list[dict] = []
    with httpx.stream("POST", f"{server.url}/v1/responses", json=body, timeout=60) as reply:
        for line in reply.iter_lines():
            seen += sse_events([line])
            if len(seen) == 6:
                break  # the client hangs up mid-answer
    response_id = seen[0]["response"]["id"]
    assert get(server, response_id).json()["status"] == "in_progress"
    with httpx.stream("GET", f"{server.url}/v1/responses/{response_id}",
                      params={"stream": "true", "starting_after": 5}, timeout=60) as reply:
        rest = sse_events(reply.iter_lines())  # follows the turn live until it ends
    whole = seen + rest
    assert [e["sequence_number"] for e in whole] == list(range(len(whole)))
    assert whole[-1]["type"] == "response.incomplete"
    assert whole[-1]["response"]["usage"]["output_tokens"] == 300
    assert get(server, response_id).json() == whole[-1]["response"]
    assert wait_until(lambda: engine.stats().num_running == 0)


def test_cancel_ends_the_stream_of_its_readers(client, server, engine):
    stream = client.responses.create(**LONG_SDK, background=True, stream=True)
    first = next(iter(stream))
    response_id = first.response.id
    assert wait_until(lambda: get(server, response_id).json()["status"] == "in_progress")
    cancelled = client.responses.cancel(response_id)
    assert (cancelled.status, cancelled.background) == ("cancelled", True)
    rest = events_of(stream)  # the log ended: the reader's stream ends with no final event
    assert rest and all(e["type"] != "response.completed" for e in rest)
    assert wait_until(lambda: engine.stats().num_running == 0)
    # the events until the cancel stay readable
    again = events_of(client.responses.retrieve(response_id, stream=True))
    assert again[0] == first.model_dump(exclude_unset=True) and again[1:] == rest


def test_a_failed_turn_ends_its_stream_with_response_failed(client, server):
    body = dict(BODY, input="word " * 6000)  # longer than the model's context
    plain = httpx.post(f"{server.url}/v1/responses", json=body, timeout=60)
    assert plain.status_code == 400
    events = stream_events(client, **body)
    assert [e["type"] for e in events] == ["response.created", "response.failed"]
    failed = events[-1]["response"]
    assert (failed["status"], failed["error"]) == ("failed", plain.json()["error"])
    assert get(server, failed["id"]).json() == failed


@pytest.mark.parametrize(("query", "param"), [
    ({"stream": "maybe"}, "stream"),
    ({"stream": "true", "starting_after": "-1"}, "starting_after"),
    ({"stream": "true", "starting_after": "x"}, "starting_after"),
])
def test_bad_stream_queries_are_a_400_naming_the_parameter(client, server, query, param):
    response_id = stream_events(client, **BODY)[0]["response"]["id"]
    reply = get(server, response_id, **query)
    assert (reply.status_code, reply.json()["error"]["param"]) == (400, param)


def test_only_a_streamed_background_response_streams_again(server):
    plain = httpx.post(f"{server.url}/v1/responses", json=BODY, timeout=60).json()
    polled = httpx.post(f"{server.url}/v1/responses", json=dict(BODY, background=True),
                        timeout=60).json()
    for response_id in (plain["id"], polled["id"]):
        reply = get(server, response_id, stream="true")
        assert (reply.status_code, reply.json()["error"]["param"]) == (400, "stream")
    assert get(server, plain["id"], stream="true").json()["error"]["message"] == (
        f"response {plain['id']!r} has no stream to resume: only a response created with "
        "background and stream can be streamed again, and the server keeps the events of the "
        "most recently ended ones; GET it without stream")
    assert get(server, plain["id"], stream="false").json() == plain
    missing = get(server, "resp_nope", stream="true")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "response_not_found")


def test_delete_drops_the_log(client, server):
    response_id = stream_events(client, **BODY)[0]["response"]["id"]
    assert httpx.delete(f"{server.url}/v1/responses/{response_id}", timeout=60).json()[
        "deleted"] is True
    assert get(server, response_id, stream="true").status_code == 404


def test_event_log_readers_follow_and_only_recent_ended_logs_are_kept(monkeypatch):
    monkeypatch.setattr(background_responses, "KEEP_ENDED_LOGS", 2)
    monkeypatch.setattr(background_responses, "MAX_ENDED_EVENTS", 1000)

    async def scenario() -> tuple[list, list, list]:
        log = EventLog()
        log.add("a")
        reader = asyncio.ensure_future(_collect(log.follow(-1)))
        late = asyncio.ensure_future(_collect(log.follow(1)))  # after an event to come
        await asyncio.sleep(0)
        log.add("b", x=1)
        log.add("c")
        log.close()
        first, second = await reader, await late
        background = BackgroundResponses(ResponseStore(10))
        kept = []
        for i in range(4):
            stream_log = EventLog()

            async def run(stream_log=stream_log) -> None:
                stream_log.add("response.created")

            background.start({"id": f"r{i}"}, [], None, [], run, _no_events(), stream_log)
            await asyncio.sleep(0.01)
            kept.append([f"r{j}" for j in range(i + 1) if background.log(f"r{j}")])
        return first, second, kept

    first, second, kept = asyncio.run(scenario())
    assert first == [{"type": "a", "sequence_number": 0}, {"type": "b", "sequence_number": 1,
                     "x": 1}, {"type": "c", "sequence_number": 2}]
    assert second == first[2:]
    assert kept == [["r0"], ["r0", "r1"], ["r1", "r2"], ["r2", "r3"]]


async def _collect(events) -> list:
    return [e async for e in events]


async def _no_events():
    return
    yield


def test_ended_logs_are_also_bounded_by_their_events(monkeypatch):
    monkeypatch.setattr(background_responses, "MAX_ENDED_EVENTS", 5)

    async def scenario() -> list[list[str]]:
        background = BackgroundResponses(ResponseStore(10))
        kept = []
        for i, size in enumerate((3, 2, 1, 4)):  # events each stream writes
            stream_log = EventLog()

            async def run(stream_log=stream_log, size=size) -> None:
                for _ in range(size):
                    stream_log.add("response.output_text.delta")

            background.start({"id": f"r{i}"}, [], None, [], run, _no_events(), stream_log)
            await asyncio.sleep(0.01)
            kept.append([f"r{j}" for j in range(i + 1) if background.log(f"r{j}")])
        return kept

    # 3, then 3+2, then 3+2+1 > 5 drops r0, then 2+1+4 > 5 drops r1 and 1+4 fits
    assert asyncio.run(scenario()) == [["r0"], ["r0", "r1"], ["r1", "r2"], ["r2", "r3"]]

