"""GET /metrics: Prometheus text with the exact metric names, counters that move by exactly
what a request did, and engine gauges read from the scheduler."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from test_server_support import always, live_server, openai_client

EXPECTED_NAMES = {
    "paste_http_requests", "paste_turn_duration_seconds", "paste_time_to_first_token_seconds",
    "paste_time_per_output_token_seconds", "paste_turns",
    "paste_prompt_tokens", "paste_cached_prompt_tokens", "paste_completion_tokens",
    "paste_sessions_open", "paste_tool_calls", "paste_tool_duration_seconds",
    "paste_tool_observed_latency_seconds", "paste_engine_running_sequences",
    "paste_engine_waiting_sequences", "paste_engine_parked_sequences",
    "paste_kv_cache_used_blocks", "paste_kv_cache_blocks", "paste_kv_cache_usage_ratio",
    "paste_engine_generated_tokens", "paste_engine_preemptions", "paste_draft_tokens",
    "paste_draft_tokens_accepted", "paste_sessions_restored",
    "paste_session_journal_failed_writes", "paste_store_journal_failed_writes",
    "paste_prefix_cache_queries",
    "paste_prefix_cache_hits",
}


def scrape(url):
    response = httpx.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values, names = {}, set()
    for family in text_string_to_metric_families(response.text):
        names.add(family.name)
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return names, values


def test_metrics_names_and_counters(engine):
    with live_server(engine) as server:
        names, before = scrape(server.url)
        assert EXPECTED_NAMES <= names
        with engine.scripted(always("Hello there!")):
            out = openai_client(server).chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": "Hi"}])
        _, after = scrape(server.url)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("paste_http_requests_total", route="/v1/chat/completions", status="200") == 1
    assert delta("paste_http_requests_total", route="/metrics", status="200") == 1
    assert delta("paste_prompt_tokens_total") == out.usage.prompt_tokens
    assert delta("paste_completion_tokens_total") == out.usage.completion_tokens
    assert delta("paste_engine_generated_tokens_total") == out.usage.completion_tokens
    assert delta("paste_turn_duration_seconds_count") == 1
    assert delta("paste_time_to_first_token_seconds_count") == 1
    assert delta("paste_time_per_output_token_seconds_count") == 1  # several tokens
    assert delta("paste_turns_total", finish_reason="stop") == 1
    assert delta("paste_turns_total", finish_reason="length") == 0
    assert delta("paste_draft_tokens_total") == 0  # the engine does not draft by default
    assert delta("paste_prefix_cache_queries_total") == out.usage.prompt_tokens  # admitted
    assert delta("paste_prefix_cache_hits_total") == delta("paste_cached_prompt_tokens_total")
    assert after[("paste_engine_running_sequences", ())] == 0
    assert after[("paste_engine_waiting_sequences", ())] == 0
    assert after[("paste_kv_cache_blocks", ())] == 2048
    used = after[("paste_kv_cache_used_blocks", ())]
    assert after[("paste_kv_cache_usage_ratio", ())] == used / 2048


def test_prefix_cache_counters_count_a_repeated_prompt(engine):
    messages = [{"role": "user", "content": "The capital of France is Paris. Tell me more."}]
    with live_server(engine) as server:
        client = openai_client(server)
        with engine.scripted(always("Yes.")):
            client.chat.completions.create(model="tiny", messages=messages)
            _, before = scrape(server.url)
            again = client.chat.completions.create(model="tiny", messages=messages)
        _, after = scrape(server.url)
    cached = again.usage.prompt_tokens_details.cached_tokens
    assert cached > 0  # the same prompt: its whole blocks are reused
    hits = after[("paste_prefix_cache_hits_total", ())] - before[("paste_prefix_cache_hits_total", ())]
    queries = (after[("paste_prefix_cache_queries_total", ())]
               - before[("paste_prefix_cache_queries_total", ())])
    assert (queries, hits) == (again.usage.prompt_tokens, cached)
