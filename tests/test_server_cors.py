"""CORS, as vLLM serves it (ServerConfig.allowed_origins and siblings): preflights answered
before the API key check, headers on answers and on errors, a configured origin list, none at
all, and the flags."""

from __future__ import annotations

import httpx
import pytest

from paste.cli import build_parser
from paste.errors import InvalidArgumentError
from paste.server import ServerConfig
from test_server_support import live_server

PREFLIGHT = {"origin": "http://ui.example", "access-control-request-method": "POST",
             "access-control-request-headers": "authorization, content-type"}


def test_default_any_origin_preflight_passes_the_api_key_check(engine) -> None:
    with live_server(engine, api_key="k") as server:
        pre = httpx.options(server.url + "/v1/chat/completions", headers=PREFLIGHT)
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "*"
        assert "POST" in pre.headers["access-control-allow-methods"]
        assert pre.headers["access-control-allow-headers"] == "authorization, content-type"
        models = httpx.get(server.url + "/v1/models", headers={
            "origin": "http://ui.example", "authorization": "Bearer k"})
        assert models.status_code == 200 and models.json()["data"][0]["id"] == "tiny"
        assert models.headers["access-control-allow-origin"] == "*"
        refused = httpx.get(server.url + "/v1/models", headers={"origin": "http://ui.example"})
        assert refused.status_code == 401  # the key is still required; the page can read why
        assert refused.headers["access-control-allow-origin"] == "*"
        assert refused.json()["error"]["code"] == "invalid_api_key"


def test_listed_origins_only(engine) -> None:
    with live_server(engine, allowed_origins=("http://ui.example",),
                     allowed_methods=("GET", "POST"), allow_credentials=True) as server:
        pre = httpx.options(server.url + "/v1/chat/completions", headers=PREFLIGHT)
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "http://ui.example"
        assert pre.headers["access-control-allow-credentials"] == "true"
        other = httpx.options(server.url + "/v1/chat/completions",
                              headers={**PREFLIGHT, "origin": "http://evil.example"})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        delete = httpx.options(server.url + "/v1/responses/x", headers={
            **PREFLIGHT, "access-control-request-method": "DELETE"})
        assert delete.status_code == 400  # a method not listed
        health = httpx.get(server.url + "/health", headers={"origin": "http://evil.example"})
        assert health.status_code == 200 and "access-control-allow-origin" not in health.headers


def test_no_origins_no_cors_headers(engine) -> None:
    with live_server(engine, allowed_origins=()) as server:
        health = httpx.get(server.url + "/health", headers={"origin": "http://ui.example"})
        assert health.status_code == 200
        assert "access-control-allow-origin" not in health.headers
        pre = httpx.options(server.url + "/v1/chat/completions", headers=PREFLIGHT)
        assert pre.status_code == 405  # no CORS: OPTIONS is just a method no route takes


@pytest.mark.parametrize("field", ["allowed_origins", "allowed_methods", "allowed_headers"])
def test_lists_must_hold_non_empty_strings(field: str) -> None:
    for bad in (["*"], ("",), ("*", 3)):
        with pytest.raises(InvalidArgumentError, match=f"{field} must be a tuple of non-empty"):
            ServerConfig(model_id="m", **{field: bad})


def test_flags_reach_the_server_config(capsys: pytest.CaptureFixture[str]) -> None:
    from paste.cli.serve_cmd import server_options

    def cors(*flags: str) -> tuple[object, ...]:
        out = server_options(build_parser().parse_args(["serve", *flags]))
        return (out["allowed_origins"], out["allowed_methods"], out["allowed_headers"],
                out["allow_credentials"])

    assert cors() == (("*",), ("*",), ("*",), False)
    assert cors("--allowed-origins", '["http://a.example", "http://b.example"]',
                "--allowed-methods", '["GET"]', "--allowed-headers", "[]",
                "--allow-credentials") == (
        ("http://a.example", "http://b.example"), ("GET",), (), True)
    for bad in ("*", '["*", 1]', '{"a": 1}', '[""]'):
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args(["serve", "--allowed-origins", bad])
        assert exit_.value.code == 2
        assert "argument --allowed-origins: expected a JSON array of non-empty strings" in (
            capsys.readouterr().err)
