"""Background responses (server/background_responses.py): `background: true` answers at once
with a queued response, GET follows it to the same output a synchronous request gets, cancel
and DELETE stop its engine request, and every misuse is a typed 4xx."""

from __future__ import annotations

import httpx
import pytest

from test_server_support import wait_until

BODY = {"model": "tiny", "input": "Tell me a story.", "max_output_tokens": 12,
        "temperature": 0}
LONG = dict(BODY, max_output_tokens=3500, ignore_eos=True)  # seconds of decoding


def post(server, body, path="/v1/responses"):
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


def get(server, response_id):
    return httpx.get(f"{server.url}/v1/responses/{response_id}", timeout=60)


def final(server, response_id):
    """The response once its turn ended (its status is neither queued nor in_progress)."""
    seen = {}

    def done() -> bool:
        seen["r"] = get(server, response_id).json()
        return seen["r"]["status"] not in ("queued", "in_progress")

    assert wait_until(done)
    return seen["r"]


def test_a_background_response_is_queued_then_the_synchronous_answer(server):
    queued = post(server, dict(BODY, background=True)).json()
    assert (queued["status"], queued["background"], queued["output"]) == ("queued", True, [])
    done = final(server, queued["id"])
    plain = post(server, BODY).json()
    assert done["status"] == plain["status"] == "incomplete"  # max_output_tokens cut it
    assert [item["content"][0]["text"] for item in done["output"]] == [
        item["content"][0]["text"] for item in plain["output"]]
    assert done["usage"]["output_tokens"] == plain["usage"]["output_tokens"] == 12
    assert done["background"] is True and "background" not in plain
    # a finished background response chains like any stored one
    chained = post(server, dict(BODY, input="And then?", previous_response_id=queued["id"]))
    assert chained.status_code == 200
    assert post(server, {}, f"/v1/responses/{queued['id']}/cancel").json() == done  # idempotent


def test_cancel_stops_the_engine_request_and_is_idempotent(server, engine):
    queued = post(server, dict(LONG, background=True)).json()
    cancelled = post(server, {}, f"/v1/responses/{queued['id']}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["background"]) == ("cancelled", True)
    assert get(server, queued["id"]).json() == cancelled.json()
    assert wait_until(lambda: engine.stats().num_running == 0)  # its sequence was freed
    again = post(server, {}, f"/v1/responses/{queued['id']}/cancel")
    assert again.json() == cancelled.json()
    chained = post(server, dict(BODY, previous_response_id=queued["id"]))
    assert chained.status_code == 400
    assert chained.json()["error"]["param"] == "previous_response_id"
    assert "is cancelled" in chained.json()["error"]["message"]


def test_a_running_response_cannot_be_chained_and_delete_cancels_it(server, engine):
    queued = post(server, dict(LONG, background=True)).json()
    chained = post(server, dict(BODY, previous_response_id=queued["id"]))
    assert chained.status_code == 400
    message = chained.json()["error"]["message"]
    assert "is queued" in message or "is in_progress" in message  # as far as its turn got
    deleted = httpx.delete(f"{server.url}/v1/responses/{queued['id']}", timeout=60)
    assert deleted.json() == {"id": queued["id"], "object": "response.deleted", "deleted": True}
    assert get(server, queued["id"]).status_code == 404
    assert wait_until(lambda: engine.stats().num_running == 0)


@pytest.mark.parametrize(("body", "param"), [
    (dict(BODY, background=True, store=False), "background"),
    (dict(BODY, background="yes"), "background"),
])
def test_background_misuse_is_a_400_naming_the_field(server, body, param):
    reply = post(server, body)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param


def test_cancel_of_an_unknown_or_synchronous_response(server):
    unknown = post(server, {}, "/v1/responses/resp_nope/cancel")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "response_not_found")
    plain = post(server, BODY).json()
    refused = post(server, {}, f"/v1/responses/{plain['id']}/cancel")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        f"response {plain['id']!r} did not run in the background: only a background response "
        "can be cancelled")
    assert get(server, plain["id"]).json() == plain  # unchanged


def test_a_turn_that_fails_is_saved_as_failed_with_the_error(server):
    body = dict(BODY, input="word " * 6000)  # longer than the model's context
    plain = post(server, body)
    assert plain.status_code == 400
    failed = final(server, post(server, dict(body, background=True)).json()["id"])
    assert failed["status"] == "failed"
    assert failed["error"] == plain.json()["error"]  # what the synchronous request is told
    assert failed["background"] is True and failed["output"] == []


def test_concurrent_cancels_let_the_first_one_clean_up():
    import asyncio

    from paste.server.background_responses import BackgroundResponses
    from paste.server.response_store import ResponseStore

    async def scenario() -> tuple[list[str], int, str]:
        store = ResponseStore(4)
        background = BackgroundResponses(store)
        closed: list[str] = []

        async def events():
            try:
                while True:
                    await asyncio.sleep(1)
                    yield None
            finally:
                await asyncio.sleep(0.05)  # cleanup that awaits (the request log's close does)
                closed.append("closed")

        stream = events()

        async def run() -> None:
            async for _ in stream:
                pass

        background.start({"id": "resp_x", "status": "in_progress"}, [], None, [], run, stream)
        await asyncio.sleep(0.01)
        async def later() -> bool:  # while the first cancel's cleanup runs
            await asyncio.sleep(0.01)
            return await background.cancel("resp_x")

        done = await asyncio.gather(background.cancel("resp_x"), later())
        assert done == [True, True]
        return closed, len(background), store.response("resp_x")["status"]

    assert asyncio.run(scenario()) == (["closed"], 0, "cancelled")
