"""POST /v1/embeddings (server/embeddings.py) on a real tiny model: each input's embedding is
the engine's pooled prompt (itself checked against transformers in test_engine_pooling.py),
in input order, as floats or base64; every bad field is a 400 naming it; --pooler-config."""

from __future__ import annotations

import argparse
import base64
import struct

import httpx
import pytest
import torch

from paste.cli.arg_types import pooler_config_arg
from paste.engine.pooling import PoolingParams
from paste.engine.request import GenerationParams
from test_server_support import live_server, openai_client
from tiny_model import build_tiny_model, make_tiny_engine

TEXTS = ["The capital of France", "def add(a, b): return a + b", "tool results: 42"]


def append_end_token(folder) -> None:
    """Make the folder's tokenizer append <|endoftext|> to an encoded text when asked for
    special tokens, as Qwen3-Embedding's does (the token it is pooled at)."""
    from tokenizers import Tokenizer
    from tokenizers.processors import TemplateProcessing

    path = str(folder / "tokenizer.json")
    tok = Tokenizer.from_file(path)
    end = tok.token_to_id("<|endoftext|>")
    tok.post_processor = TemplateProcessing(single="$A <|endoftext|>",
                                            special_tokens=[("<|endoftext|>", end)])
    tok.save(path)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):  # the conftest's `server` serves it
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-embed"), "qwen3")
    append_end_token(folder)
    eng = make_tiny_engine(folder, attention_backend="cpu", dtype="float32", max_model_len=64)
    yield eng
    eng.shutdown()


def pooled(engine, ids: list[int], pooling: PoolingParams) -> torch.Tensor:
    out = engine.generate([ids], GenerationParams(max_tokens=1, pooling=pooling))[0]
    return torch.tensor(out.embedding)


def post(server, body: dict) -> httpx.Response:
    return httpx.post(server.url + "/v1/embeddings", json=body, timeout=60)


def test_openai_client_gets_each_input_pooled_in_order(engine, server):
    client = openai_client(server)
    out = client.embeddings.create(model="tiny", input=TEXTS)  # the client asks for base64
    assert [d.index for d in out.data] == [0, 1, 2] and out.model == "tiny"
    ids = [engine.tokenizer.encode(t) for t in TEXTS]  # with the tokenizer's special tokens
    for d, prompt in zip(out.data, ids, strict=True):
        got = torch.tensor(d.embedding)
        assert torch.allclose(got, pooled(engine, prompt, PoolingParams()), atol=1e-6)
        assert abs(got.norm().item() - 1.0) < 1e-5
    assert out.usage.prompt_tokens == out.usage.total_tokens == sum(map(len, ids))


def test_text_gets_the_tokenizer_s_special_tokens_unless_told_not_to(engine, server):
    end = engine.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    bare = engine.encode(TEXTS[0])  # no special tokens
    assert engine.tokenizer.encode(TEXTS[0]) == [*bare, end]
    for special, ids in ((True, [*bare, end]), (False, bare)):
        out = post(server, {"model": "tiny", "input": TEXTS[0],
                            "add_special_tokens": special}).json()
        assert out["usage"]["prompt_tokens"] == len(ids)
        assert torch.allclose(torch.tensor(out["data"][0]["embedding"]),
                              pooled(engine, ids, PoolingParams()), atol=1e-6)
    bad = post(server, {"model": "tiny", "input": "a", "add_special_tokens": "yes"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "add_special_tokens"


def test_token_ids_floats_and_base64_agree(engine, server):
    ids = engine.encode(TEXTS[1])
    floats = post(server, {"model": "tiny", "input": ids}).json()
    both = post(server, {"model": "tiny", "input": [ids, engine.encode(TEXTS[0])],
                         "encoding_format": "base64"}).json()
    alone = post(server, {"model": "tiny", "input": ids, "encoding_format": "base64"}).json()
    assert [d["index"] for d in both["data"]] == [0, 1]
    vector = floats["data"][0]["embedding"]
    assert floats["object"] == "list" and floats["data"][0]["object"] == "embedding"
    assert floats["usage"] == {"prompt_tokens": len(ids), "total_tokens": len(ids)}
    # the same vector to rounding (a cached prefix or a batch computes it on another path)
    for answer in (alone, both):
        raw = base64.b64decode(answer["data"][0]["embedding"])
        assert len(raw) == 4 * len(vector)  # float32s
        assert torch.allclose(torch.tensor(struct.unpack(f"<{len(vector)}f", raw)),
                              torch.tensor(vector), atol=1e-6)
    same = post(server, {"model": "tiny", "input": ids, "dimensions": len(vector)})
    assert same.status_code == 200
    assert torch.allclose(torch.tensor(same.json()["data"][0]["embedding"]),
                          torch.tensor(vector), atol=1e-6)


@pytest.mark.parametrize("body, param, message", [
    ({"input": "x"}, "model", "'model' is required"),
    ({"model": "tiny", "input": ""}, "input", "'input' must be"),
    ({"model": "tiny", "input": []}, "input", "'input' must be"),
    ({"model": "tiny", "input": [""]}, "input", "'input' must be"),
    ({"model": "tiny", "input": [[]]}, "input", "'input' must be"),
    ({"model": "tiny", "input": [1, "a"]}, "input", "'input' must be"),
    ({"model": "tiny", "input": [True]}, "input", "'input' must be"),
    ({"model": "tiny", "input": [10**9]}, "input", "token ids must be in"),
    ({"model": "tiny", "input": ["a", "b" * 400]}, "input", "input 1:"),
    ({"model": "tiny", "input": "a", "encoding_format": "int8"}, "encoding_format",
     "'encoding_format' must be one of float, base64"),
    ({"model": "tiny", "input": "a", "dimensions": 3}, "dimensions", "own 48"),
    ({"model": "tiny", "input": "a", "dimensions": "48"}, "dimensions", "must be an integer"),
])
def test_bad_fields_are_400_naming_them(server, body, param, message):
    response = post(server, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and message in error["message"]


def test_an_unknown_model_is_404_and_the_server_serves_on(server):
    response = post(server, {"model": "other", "input": "a"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    assert post(server, {"model": "tiny", "input": "a"}).status_code == 200


def test_the_pooler_config_mean_unnormalised(engine):
    mean = PoolingParams("MEAN", normalize=False)
    with live_server(engine, pooling=mean) as srv:
        got = post(srv, {"model": "tiny", "input": TEXTS[0]}).json()["data"][0]["embedding"]
    want = pooled(engine, engine.tokenizer.encode(TEXTS[0]), mean)
    assert torch.allclose(torch.tensor(got), want, atol=1e-6)
    assert abs(want.norm().item() - 1.0) > 1e-3  # not normalised: a different vector


def test_pooler_config_flag():
    assert pooler_config_arg('{"pooling_type": "MEAN", "normalize": false}') == \
        PoolingParams("MEAN", False)
    assert pooler_config_arg("{}") == PoolingParams()
    for bad, message in [("[1]", "a JSON object"), ('{"pooling_type": "CLS"}', "LAST, MEAN"),
                         ('{"dimensions": 3}', "unknown key 'dimensions'"),
                         ('{"normalize": "yes"}', "true or false")]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            pooler_config_arg(bad)


def test_a_bad_pooler_config_exits_2_naming_it(capsys):
    from paste.cli import build_parser

    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--model", "m", "--pooler-config",
                                   '{"pooling_type": "CLS"}'])
    assert exited.value.code == 2
    assert "--pooler-config" in capsys.readouterr().err
