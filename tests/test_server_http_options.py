"""vLLM's HTTP-level serve flags: HTTPS (--ssl-*), --uvicorn-log-level (HttpOptions, through a
real uvicorn with a certificate made by openssl), several --served-model-name names, and the
engine flags vLLM command lines carry that paste accepts or refuses by name."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from paste.cli import build_parser
from paste.errors import InvalidArgumentError
from paste.server import BackgroundServer, ServerConfig, create_app
from paste.server.http_options import HttpOptions
from paste.server.serve import served_names, startup_summary
from test_server_support import live_server


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    key, crt = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(key), str(crt)


def test_https_serves_with_the_certificate(engine, cert: tuple[str, str]) -> None:
    key, crt = cert
    http = HttpOptions(log_level="warning", ssl_keyfile=key, ssl_certfile=crt)
    app = create_app(engine, ServerConfig(model_id="tiny"))
    with BackgroundServer(app, http=http) as server:
        assert server.url.startswith("https://127.0.0.1:")
        health = httpx.get(server.url + "/health", verify=ssl.create_default_context(cafile=crt))
        assert health.json() == {"status": "ok", "model": "tiny"}
        with pytest.raises(httpx.ConnectError):  # our CA is not the system's
            httpx.get(server.url + "/health")
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port
            httpx.get(server.url.replace("https", "http") + "/health")


def test_client_certificates_required(engine, cert: tuple[str, str]) -> None:
    key, crt = cert
    http = HttpOptions(log_level="critical", ssl_keyfile=key, ssl_certfile=crt,
                       ssl_ca_certs=crt, ssl_cert_reqs=int(ssl.CERT_REQUIRED))
    app = create_app(engine, ServerConfig(model_id="tiny"))
    with BackgroundServer(app, http=http) as server:
        context = ssl.create_default_context(cafile=crt)
        with pytest.raises(httpx.HTTPError):  # no client certificate
            httpx.get(server.url + "/health", verify=context)
        context.load_cert_chain(crt, key)
        assert httpx.get(server.url + "/health", verify=context).status_code == 200


def test_http_options_are_checked(tmp_path: Path, cert: tuple[str, str]) -> None:
    key, crt = cert
    cases = [
        ({"log_level": "loud"}, "--uvicorn-log-level must be one of critical, error, warning,"),
        ({"ssl_keyfile": key}, "--ssl-keyfile and --ssl-certfile go together"),
        ({"ssl_certfile": crt}, "--ssl-keyfile and --ssl-certfile go together"),
        ({"ssl_keyfile": key, "ssl_certfile": crt, "ssl_cert_reqs": 3},
         "--ssl-cert-reqs must be 0 \\(none\\), 1 \\(optional\\) or 2"),
        ({"ssl_ca_certs": crt}, "--ssl-ca-certs and --ssl-cert-reqs need --ssl-keyfile"),
        ({"ssl_keyfile": key, "ssl_certfile": crt, "ssl_cert_reqs": 2},
         "needs --ssl-ca-certs"),
        ({"ssl_keyfile": str(tmp_path / "none.pem"), "ssl_certfile": crt},
         f"cannot read --ssl-keyfile '{tmp_path}/none.pem': No such file or directory"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidArgumentError, match=message):
            HttpOptions(**kwargs)  # type: ignore[arg-type]
    assert HttpOptions().uvicorn_kwargs() == {
        "log_level": "info", "ssl_keyfile": None, "ssl_certfile": None, "ssl_ca_certs": None,
        "ssl_cert_reqs": 0, "access_log": True, "root_path": ""}
    for bad in ("paste", "/paste/", "/"):
        with pytest.raises(InvalidArgumentError, match=f"--root-path must start with '/' and "
                                                       f"not end with one .e.g. /paste., got "
                                                       f"'{bad}'"):
            HttpOptions(root_path=bad)
    assert (HttpOptions().scheme, HttpOptions(ssl_keyfile=key, ssl_certfile=crt).scheme) == (
        "http", "https")


@pytest.mark.parametrize("access_log", [True, False])
def test_root_path_and_the_access_log(engine, access_log: bool, capfd) -> None:
    http = HttpOptions(log_level="info", access_log=access_log, root_path="/paste")
    app = create_app(engine, ServerConfig(model_id="tiny"))
    capfd.readouterr()
    with BackgroundServer(app, http=http) as server:
        health = httpx.get(server.url + "/health")  # the proxy stripped the prefix
        openapi = httpx.get(server.url + "/openapi.json").json()
    assert health.json() == {"status": "ok", "model": "tiny"}
    assert openapi["servers"] == [{"url": "/paste"}]  # generated URLs carry the prefix
    out = capfd.readouterr()
    lines = [line.split(" - ", 1)[1] for line in (out.out + out.err).splitlines()
             if ' - "GET ' in line]
    # uvicorn's access log names the path as the client asked the proxy for it
    assert lines == (['"GET /paste/health HTTP/1.1" 200 OK',
                      '"GET /paste/openapi.json HTTP/1.1" 200 OK'] if access_log else [])


def test_http_flags_reach_the_http_options(monkeypatch) -> None:
    from paste.cli import main
    from paste.server import serve as serve_module

    seen: list[HttpOptions] = []
    monkeypatch.setattr(serve_module, "serve", lambda *a, http, **k: seen.append(http))
    assert main(["serve", "m", "--disable-uvicorn-access-log", "--root-path", "/api"]) == 0
    assert main(["serve", "m"]) == 0
    assert [(h.access_log, h.root_path) for h in seen] == [(False, "/api"), (True, "")]
    assert main(["serve", "m", "--root-path", "api/"]) == 2


def test_serve_flags_exit_2_naming_the_problem(tmp_path: Path, capsys) -> None:
    from paste.cli import main

    assert main(["serve", "--model", "m", "--uvicorn-log-level", "loud"]) == 2
    assert "--uvicorn-log-level must be one of" in capsys.readouterr().err
    assert main(["serve", "--model", "m", "--ssl-keyfile", str(tmp_path / "k"),
                 "--ssl-certfile", str(tmp_path / "c")]) == 2
    assert f"cannot read --ssl-keyfile '{tmp_path}/k'" in capsys.readouterr().err
    assert main(["serve", "--model", "m", "--kv-cache-dtype", "fp8"]) == 2
    assert ("--kv-cache-dtype fp8 is not supported: paste stores the KV cache in the model's "
            "dtype (auto)") in capsys.readouterr().err
    assert main(["generate", "hi", "--model", "m", "-q", "awq"]) == 2
    assert "--quantization awq is not supported" in capsys.readouterr().err


def test_vllm_engine_flags_paste_accepts_change_nothing() -> None:
    from paste.cli.engine_args import engine_options

    args = build_parser().parse_args(["serve", "--kv-cache-dtype", "auto", "--swap-space", "4",
                                      "--enable-chunked-prefill"])
    assert engine_options(args) == {}


def test_served_model_names() -> None:
    args = build_parser().parse_args(["serve", "--served-model-name", "gpt-x", "alias"])
    assert args.served_model_name == ["gpt-x", "alias"]
    assert served_names(args.served_model_name, "m") == ("gpt-x", ("alias",))
    assert served_names("one", "m") == ("one", ())
    assert served_names(None, "smollm2-135m-instruct") == ("smollm2-135m-instruct", ())
    with pytest.raises(InvalidArgumentError, match="served model names must be distinct"):
        ServerConfig(model_id="a", model_aliases=("b", "a"))
    with pytest.raises(InvalidArgumentError, match="served model names must be distinct"):
        ServerConfig(model_id="a", model_aliases=("",))


def test_every_served_name_is_listed_and_answered_as_asked(engine) -> None:
    with live_server(engine, model_aliases=("alias",)) as server:
        models = httpx.get(server.url + "/v1/models").json()["data"]
        assert [m["id"] for m in models] == ["tiny", "alias"]
        assert httpx.get(server.url + "/v1/models/alias").json()["id"] == "alias"
        done = httpx.post(server.url + "/v1/completions", json={
            "model": "alias", "prompt": "Hello", "max_tokens": 2}).json()
        assert done["model"] == "alias" and done["usage"]["completion_tokens"] <= 2
        missing = httpx.post(server.url + "/v1/completions", json={
            "model": "other", "prompt": "Hello", "max_tokens": 2})
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == (
            "the model 'other' does not exist; this server serves 'tiny' or 'alias'")


def test_startup_summary_names_the_scheme(engine) -> None:
    line = startup_summary(ServerConfig(model_id="tiny", port=8443), engine, "https")
    assert line.endswith("on https://127.0.0.1:8443")
