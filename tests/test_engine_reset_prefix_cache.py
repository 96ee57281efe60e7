"""Resetting the prefix cache (vLLM's reset_prefix_cache): after it a repeated prompt gets no
prefix hit, in the in-process Engine and in the ProcessEngine alike, and over HTTP
(POST /reset_prefix_cache); the cache then fills again as before. The C++ eviction itself
is tested exactly in csrc/tests/test_block_manager.cc."""

from __future__ import annotations

import httpx

from paste.engine.request import GenerationParams
from test_engine_process import both, tiny_folder  # noqa: F401 - the module's fixtures

PROMPT = "The capital of France is Paris, and the capital of Spain is Madrid. " * 3


def cached(engine, ids) -> int:
    params = GenerationParams(max_tokens=2, ignore_eos=True)
    return engine.generate([ids], params)[0].num_cached_tokens


def test_a_reset_forgets_what_was_computed(both):  # noqa: F811
    for engine in both:
        ids = engine.encode(PROMPT)
        cached(engine, ids)
        hit = cached(engine, ids)
        assert hit >= len(ids) - 8  # all but the last block or two
        engine.reset_prefix_cache()
        assert cached(engine, ids) == 0
        assert cached(engine, ids) == hit  # cached again, as the first time


def test_the_http_route_resets_the_served_engine(engine, server):
    body = {"model": "tiny", "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 2, "temperature": 0}

    def cached_tokens() -> int:
        reply = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)
        return reply.json()["usage"]["prompt_tokens_details"]["cached_tokens"]

    cached_tokens()
    hit = cached_tokens()
    assert hit > 0
    reset = httpx.post(f"{server.url}/reset_prefix_cache", timeout=60)
    assert (reset.status_code, reset.content) == (200, b"")
    assert cached_tokens() == 0
    assert cached_tokens() == hit


def test_the_route_needs_the_api_key(engine):
    from test_server_support import live_server

    with live_server(engine, api_key="s3cret") as srv:
        refused = httpx.post(f"{srv.url}/reset_prefix_cache", timeout=60)
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "invalid_api_key")
        keyed = httpx.post(f"{srv.url}/reset_prefix_cache", timeout=60,
                           headers={"authorization": "Bearer s3cret"})
        assert keyed.status_code == 200
