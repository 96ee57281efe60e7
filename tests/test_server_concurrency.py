"""50 streaming clients at once (threads, each with its own openai client): every stream
completes and reassembles to the greedy answer a lone non-streamed request gets; afterwards
the engine has nothing running and the request counter counted every request."""

from __future__ import annotations

import threading

from prometheus_client.parser import text_string_to_metric_families

from test_server_support import live_server, openai_client, wait_until

NUM_CLIENTS = 50
PROMPTS = ["The capital of France", "def add(a, b):", "Hello there! How can I", "tool results"]


def request_count(url, route):
    import httpx

    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        if family.name == "paste_http_requests":
            return sum(s.value for s in family.samples if s.name.endswith("_total")
                       and s.labels["route"] == route and s.labels["status"] == "200")
    return 0


def test_fifty_concurrent_streams_all_complete_with_the_greedy_text(engine):
    with live_server(engine) as server:
        client = openai_client(server)
        kwargs = dict(model="tiny", temperature=0, max_tokens=8)
        expected = {p: client.chat.completions.create(
            messages=[{"role": "user", "content": p}], **kwargs).choices[0].message.content
            for p in PROMPTS}
        results: dict[int, tuple[str, str | None]] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(NUM_CLIENTS)

        def run(i):
            try:
                own = openai_client(server)
                start.wait()
                text, finish = "", None
                stream = own.chat.completions.create(
                    messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                    stream=True, **kwargs)
                for chunk in stream:
                    text += chunk.choices[0].delta.content or ""
                    finish = chunk.choices[0].finish_reason or finish
                results[i] = (text, finish)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(NUM_CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(results) == list(range(NUM_CLIENTS))
        for i, (text, finish) in results.items():
            assert text == expected[PROMPTS[i % len(PROMPTS)]]
            assert finish in ("stop", "length")
        assert wait_until(lambda: engine.core.loop.num_running == 0)
        assert engine.core.loop.num_waiting == 0
        assert request_count(server.url, "/v1/chat/completions") == NUM_CLIENTS + len(PROMPTS)
