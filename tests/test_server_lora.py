"""LoRA adapters over HTTP, in a ProcessEngine as `paste serve` runs it: /v1/models lists each
adapter with vLLM's root and parent; a request whose "model" is an adapter gets exactly what
the engine gives that adapter (chat, completions, responses, through the openai client); an
unknown model is a 404 naming the adapters too; an adapter named like the served model is
refused at start; the CLI flags parse into EngineConfig as vLLM's do."""

from __future__ import annotations

import pytest

from paste.engine.process_engine import ProcessEngine
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from test_engine_lora import TARGETS, save_peft_adapter
from test_server_support import live_server, openai_client
from tiny_model import build_tiny_model

SETTINGS = {"attention_backend": "torch", "block_size": 4, "num_blocks": 256,
            "max_num_batched_tokens": 64, "num_threads": 1, "dtype": "float32"}
PROMPT = "Say something only the adapter would say."


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora-http")
    base = build_tiny_model(root / "base", "llama")
    return base, save_peft_adapter(base, root / "sql", TARGETS, seed=3)


@pytest.fixture(scope="module")
def engine(folders):
    base, adapter = folders
    eng = ProcessEngine(str(base), lora_modules=(("sql-lora", str(adapter)),), **SETTINGS)
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def server(engine):
    with live_server(engine) as srv:
        yield srv


def test_models_lists_the_adapter_with_its_root_and_parent(server, folders):
    listed = {m.id: m for m in openai_client(server).models.list().data}
    assert sorted(listed) == ["sql-lora", "tiny"]
    lora = listed["sql-lora"].model_dump()
    assert (lora["root"], lora["parent"]) == (str(folders[1]), "tiny")
    assert "parent" not in listed["tiny"].model_dump()
    assert openai_client(server).models.retrieve("sql-lora").id == "sql-lora"


def _engine_text(engine, prompt_ids, lora):
    params = GenerationParams(max_tokens=6, ignore_eos=True, lora=lora)
    return engine.generate([prompt_ids], params)[0].text


def test_chat_with_the_adapter_is_what_the_engine_gives_it(engine, server):
    messages = [{"role": "user", "content": PROMPT}]
    client = openai_client(server)
    ids = engine.chat_prompt(messages)
    for model, lora in (("sql-lora", "sql-lora"), ("tiny", None)):
        reply = client.chat.completions.create(model=model, messages=messages, max_tokens=6,
                                               temperature=0, extra_body={"ignore_eos": True})
        assert reply.model == model
        assert reply.choices[0].message.content == _engine_text(engine, ids, lora)
    assert _engine_text(engine, ids, "sql-lora") != _engine_text(engine, ids, None)


def test_completions_and_responses_run_the_adapter(engine, server):
    client = openai_client(server)
    ids = engine.encode(PROMPT)
    done = client.completions.create(model="sql-lora", prompt=PROMPT, max_tokens=6,
                                     temperature=0, extra_body={"ignore_eos": True})
    assert done.choices[0].text == _engine_text(engine, ids, "sql-lora")
    answer = client.responses.create(model="sql-lora", input=PROMPT, max_output_tokens=6,
                                     temperature=0, extra_body={"ignore_eos": True})
    chat_ids = engine.chat_prompt([{"role": "user", "content": PROMPT}])
    assert answer.output_text == _engine_text(engine, chat_ids, "sql-lora")


def test_an_unknown_model_names_the_adapters_too(server):
    import openai

    with pytest.raises(openai.NotFoundError) as info:
        openai_client(server).chat.completions.create(
            model="other-lora", messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    error = info.value.body
    assert (error["code"], error["param"]) == ("model_not_found", "model")
    assert error["message"] == ("the model 'other-lora' does not exist; this server serves "
                                "'tiny' or 'sql-lora'")


def test_an_adapter_named_like_the_served_model_is_refused(engine):
    with pytest.raises(InvalidArgumentError, match="LoRA adapter name 'sql-lora' is also a "
                                                   "served model name"):
        with live_server(engine, model_aliases=("sql-lora",)):
            pass


def test_the_cli_flags_parse_as_vllm_s(folders):
    from paste.cli import build_parser
    from paste.cli.serve_cmd import serve_engine_options

    args = build_parser().parse_args([
        "serve", "m", "--enable-lora", "--max-loras", "4", "--max-lora-rank", "8",
        "--lora-modules", f"a={folders[1]}", f'{{"name": "b", "path": "{folders[1]}"}}'])
    options = serve_engine_options(args)
    assert options["lora_modules"] == (("a", str(folders[1])), ("b", str(folders[1])))
    assert options["max_lora_rank"] == 8


def test_a_malformed_lora_module_exits_2_naming_it(capsys):
    from paste.cli import main

    assert main(["serve", "m", "--lora-modules", "no-path-here"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("error: --lora-modules 'no-path-here': expected name=path or "
                           "{\"name\": ..., \"path\": ...}")
