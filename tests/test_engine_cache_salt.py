"""Cache salts (vLLM's cache_salt): a request reuses cached prompt KV only from requests of the
same salt, in the in-process Engine and the ProcessEngine alike, over HTTP (chat and
completions), and for the native sessions of a tenant; a session turn whose salt changed
starts a new sequence instead of resuming the parked one. Bad salts are refused with typed
errors. The C++ side (salted chains, the salt checked beside the hash) is tested exactly in
csrc/tests/test_block_manager.cc and test_batch_loop.cc."""

from __future__ import annotations

import httpx
import pytest

from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from paste.server.session_store import tenant_salt
from test_engine_process import both, tiny_folder  # noqa: F401 - the module's fixtures

PROMPT = "Salted prompts keep their cached blocks to themselves, tenant by tenant. " * 3


def cached(engine, ids, salt: str | None) -> int:
    params = GenerationParams(max_tokens=2, ignore_eos=True, cache_salt=salt)
    return engine.generate([ids], params)[0].num_cached_tokens


def test_a_salt_shares_cached_blocks_only_with_its_own_requests(both):  # noqa: F811
    for engine in both:
        ids = engine.encode(PROMPT)
        assert cached(engine, ids, "a") == 0
        hit = cached(engine, ids, "a")
        assert hit >= len(ids) - 8  # all but the last block or two
        assert cached(engine, ids, "b") == 0
        assert cached(engine, ids, None) == 0
        assert cached(engine, ids, "b") == hit
        assert cached(engine, ids, None) == hit
        assert cached(engine, ids, "a") == hit


def test_a_session_turn_with_another_salt_does_not_resume_the_parked_sequence(both):  # noqa: F811
    for n, engine in enumerate(both):
        key = f"salted-{n}"
        convo = engine.encode(PROMPT + " Session.")
        turn = GenerationParams(max_tokens=3, ignore_eos=True, cache_salt="x")
        out = engine.submit_turn(key, convo, turn).result()
        longer = convo + out.token_ids + [7, 8]
        resumed = engine.submit_turn(key, longer, turn).result()
        assert resumed.num_cached_tokens == len(convo) + 2  # parked KV, all but the last token
        other = GenerationParams(max_tokens=3, ignore_eos=True, cache_salt="y")
        again = longer + resumed.token_ids + [9]
        assert engine.submit_turn(key, again, other).result().num_cached_tokens == 0
        engine.end_session(key)


def test_salt_ids_are_fixed_and_never_the_common_namespace():
    assert GenerationParams().salt_id == 0
    a = GenerationParams(cache_salt="tenant-a").salt_id
    assert a == GenerationParams(cache_salt="tenant-a").salt_id
    assert 0 < a < 2**64
    assert a != GenerationParams(cache_salt="tenant-b").salt_id


@pytest.mark.parametrize("salt", ["", 7, b"raw"])
def test_a_bad_salt_is_refused(salt):
    with pytest.raises(InvalidArgumentError, match="cache_salt must be a non-empty string"):
        GenerationParams(cache_salt=salt)


def test_a_tenant_s_sessions_are_salted_by_the_tenant():
    assert tenant_salt("default") is None
    assert tenant_salt("acme") == "tenant:acme"


def _usage_cached(server, route: str, body: dict) -> int:
    reply = httpx.post(f"{server.url}{route}", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    usage = reply.json()["usage"]
    return usage["prompt_tokens_details"]["cached_tokens"]


def test_http_requests_share_cache_only_within_their_salt(engine, server):
    chat = {"model": "tiny", "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 2, "temperature": 0}
    assert _usage_cached(server, "/v1/chat/completions", dict(chat, cache_salt="s1")) == 0
    hit = _usage_cached(server, "/v1/chat/completions", dict(chat, cache_salt="s1"))
    assert hit > 0
    assert _usage_cached(server, "/v1/chat/completions", dict(chat, cache_salt="s2")) == 0
    assert _usage_cached(server, "/v1/chat/completions", dict(chat, cache_salt="s2")) == hit


@pytest.mark.parametrize("route, body", [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/completions", {"prompt": "hi"}),
    ("/v1/responses", {"input": "hi"}),
])
@pytest.mark.parametrize("salt, message", [
    ("", "'cache_salt' must be a non-empty string"),
    (5, "'cache_salt' must be a string"),
])
def test_http_refuses_a_bad_salt(engine, server, route, body, salt, message):
    reply = httpx.post(f"{server.url}{route}", timeout=60,
                       json=dict(body, model="tiny", max_tokens=2, cache_salt=salt))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["param"], error["message"]) == ("cache_salt", message)


def test_native_sessions_of_two_tenants_do_not_share_cached_prompts(engine, server):
    def first_turn_cached(tenant: str) -> int:
        made = httpx.post(f"{server.url}/v1/sessions", timeout=60,
                          json={"tenant": tenant, "system": PROMPT, "max_tokens": 2})
        assert made.status_code == 200, made.text
        sid = made.json()["id"]
        run = httpx.post(f"{server.url}/v1/sessions/{sid}/messages", timeout=60,
                         json={"content": "Hello there.", "stream": False})
        assert run.status_code == 200, run.text
        httpx.delete(f"{server.url}/v1/sessions/{sid}", timeout=60)
        return run.json()["metrics"]["num_cached_tokens"]

    assert first_turn_cached("acme") == 0
    hit = first_turn_cached("acme")
    assert hit > 0  # the same tenant's system prompt is reused
    assert first_turn_cached("globex") == 0
    assert first_turn_cached("globex") == hit
