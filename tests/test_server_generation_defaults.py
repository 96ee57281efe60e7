"""vLLM's --generation-config (server/generation_defaults.py): the model folder's sampling
recommendations become the defaults of requests that leave a field out; a request's own
value wins; bad configs are typed errors at start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paste.engine.request import GenerationParams
from paste.server.generation_defaults import (
    GenerationConfigError,
    load_generation_defaults,
    params_defaults,
    with_defaults,
)

QWEN = {"bos_token_id": 151643, "do_sample": True, "eos_token_id": [151645, 151643],
        "pad_token_id": 151643, "repetition_penalty": 1.05, "temperature": 0.7, "top_k": 20,
        "top_p": 0.8, "transformers_version": "4.37.0"}
USER = [{"role": "user", "content": "Say something."}]
DEFAULTS = {"temperature": 0.0, "top_p": 0.5, "top_k": 7, "min_p": 0.1,
            "repetition_penalty": 1.2, "max_tokens": 3}


def _folder(tmp_path: Path, config: object) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "generation_config.json").write_text(json.dumps(config))
    return tmp_path


def test_auto_reads_the_recommendations_and_skips_transformers_defaults(tmp_path):
    assert load_generation_defaults("auto", _folder(tmp_path / "q", QWEN)) == {
        "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05}
    plain = {"temperature": 1.0, "top_p": 1.0, "top_k": 50, "repetition_penalty": 1.0,
             "min_p": None, "max_new_tokens": 256}
    assert load_generation_defaults("auto", _folder(tmp_path / "p", plain)) == {
        "max_tokens": 256}
    assert load_generation_defaults("auto", tmp_path / "nothing") == {}
    assert load_generation_defaults("vllm", _folder(tmp_path / "q", QWEN)) == {}
    assert load_generation_defaults(str(tmp_path / "q"), None) == {
        "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05}


def test_the_override_is_merged_last(tmp_path):
    folder = _folder(tmp_path, QWEN)
    assert load_generation_defaults("auto", folder, '{"temperature": 0.2, "max_new_tokens": 9}') \
        == {"temperature": 0.2, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05,
            "max_tokens": 9}
    assert load_generation_defaults("vllm", folder, {"top_k": -1}) == {"top_k": -1}


@pytest.mark.parametrize(("source", "config", "override", "message"), [
    ("dir", None, None, "no generation_config.json there"),
    ("auto", "{not json", None, "cannot read"),
    ("auto", [1, 2], None, "is not a JSON object"),
    ("auto", {"temperature": 3.5}, None, "temperature = 3.5 is not a value a request may set"),
    ("auto", {"top_k": 2.5}, None, "top_k = 2.5"),
    ("auto", {"top_p": 0}, None, "top_p = 0"),
    ("auto", {"max_new_tokens": 0}, None, "max_new_tokens = 0"),
    ("auto", {"repetition_penalty": "high"}, None, "repetition_penalty = 'high'"),
    ("vllm", None, "{bad", "--override-generation-config is not JSON"),
    ("vllm", None, "[1]", "must be a JSON object"),
    ("vllm", None, '{"seed": 1}', "unknown field(s) seed"),
    ("vllm", None, '{"min_p": 2}', "--override-generation-config: min_p = 2"),
])
def test_bad_configs_are_typed_errors(tmp_path, source, config, override, message):
    if isinstance(config, str):
        tmp_path.joinpath("generation_config.json").write_text(config)
    elif config is not None:
        _folder(tmp_path, config)
    where = str(tmp_path / "empty") if source == "dir" else source
    with pytest.raises(GenerationConfigError, match=message.replace("(", r"\(").replace(
            ")", r"\)")):
        load_generation_defaults(where, tmp_path, override)


def test_defaults_fill_only_what_the_request_leaves_out():
    body = {"model": "m", "temperature": 0.9, "top_p": None, "max_completion_tokens": 4}
    assert with_defaults(body, DEFAULTS, "chat") == {
        "model": "m", "temperature": 0.9, "top_p": 0.5, "top_k": 7, "min_p": 0.1,
        "repetition_penalty": 1.2, "max_completion_tokens": 4}
    assert with_defaults({"model": "m"}, DEFAULTS, "completions") == {
        "model": "m", "temperature": 0.0, "top_p": 0.5, "top_k": 7, "min_p": 0.1,
        "repetition_penalty": 1.2, "max_tokens": 3}
    assert with_defaults({"top_k": None}, DEFAULTS, "responses") == {
        "top_k": None, "temperature": 0.0, "top_p": 0.5, "max_output_tokens": 3}
    assert body == {"model": "m", "temperature": 0.9, "top_p": None, "max_completion_tokens": 4}
    assert with_defaults(body, {}, "chat") is body
    params = params_defaults(GenerationParams(max_tokens=5, temperature=0.9),
                             {"top_k": -1, "min_p": 0.1, "temperature": 0.3})
    assert (params.top_k, params.min_p, params.repetition_penalty, params.temperature) == \
        (0, 0.1, 1.0, 0.9)  # temperature came through the request body already
    assert params_defaults(params, {"temperature": 0.3}) is params


@pytest.fixture(scope="module")
def server(engine):
    from test_server_support import live_server

    with live_server(engine, generation_defaults=DEFAULTS) as srv:
        yield srv


def _sampling(params: GenerationParams) -> tuple:
    return (params.temperature, params.top_p, params.top_k, params.min_p,
            params.repetition_penalty, params.max_tokens)


def test_every_api_samples_with_the_defaults_unless_the_request_says(engine, client):
    out = client.chat.completions.create(model="tiny", messages=USER)
    assert _sampling(engine.params[-1]) == (0.0, 0.5, 7, 0.1, 1.2, 3)
    assert out.usage.completion_tokens <= 3
    client.chat.completions.create(model="tiny", messages=USER, temperature=0.8, max_tokens=2,
                                   extra_body={"top_k": 3, "repetition_penalty": 1.0})
    assert _sampling(engine.params[-1]) == (0.8, 0.5, 3, 0.1, 1.0, 2)
    client.completions.create(model="tiny", prompt="Hi")
    assert _sampling(engine.params[-1]) == (0.0, 0.5, 7, 0.1, 1.2, 3)
    response = client.responses.create(model="tiny", input="Hi", store=False)
    assert _sampling(engine.params[-1]) == (0.0, 0.5, 7, 0.1, 1.2, 3)
    assert (response.temperature, response.top_p, response.max_output_tokens) == (0.0, 0.5, 3)
    client.responses.create(model="tiny", input="Hi", store=False, temperature=0.6,
                            max_output_tokens=4)
    assert _sampling(engine.params[-1]) == (0.6, 0.5, 7, 0.1, 1.2, 4)


def test_serve_exits_2_naming_a_bad_generation_config(tmp_path, capsys):
    from paste.cli import main

    assert main(["serve", "--model", "m", "--generation-config", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: --generation-config {tmp_path}: no "
                                       f"generation_config.json there\n")
    assert main(["serve", "--model", "m", "--generation-config", "vllm",
                 "--override-generation-config", '{"seed": 1}']) == 2
    assert "unknown field(s) seed" in capsys.readouterr().err


def test_serve_says_at_start_what_runs_and_which_defaults_requests_get(engine):
    from paste.server import ServerConfig
    from paste.server.serve import startup_summary

    blocks, size = engine.stats().num_blocks, engine.config.block_size
    first = (f"paste serve: tiny in {engine.info.dtype}, max_model_len "
             f"{engine.info.max_model_len}, KV cache {blocks} blocks of {size} tokens "
             f"({blocks * size} tokens), on http://127.0.0.1:8000")
    assert startup_summary(ServerConfig(model_id="tiny"), engine) == first
    config = ServerConfig(model_id="tiny", generation_defaults={"temperature": 0.7, "top_k": 20})
    assert startup_summary(config, engine) == first + (
        "\npaste serve: requests that leave them out sample with temperature=0.7, top_k=20 "
        "(the generation config; --generation-config vllm for the API's defaults)")
