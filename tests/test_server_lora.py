"""LoRA adapters over HTTP, in a ProcessEngine as `paste serve` runs it: /v1/models lists each
adapter with vLLM's root and parent; a request whose "model" is an adapter gets exactly what
the engine gives that adapter (chat, completions, responses, through the openai client); an
unknown model is a 404 naming the adapters too; an adapter named like the served model is
refused at start; the CLI flags parse into EngineConfig as vLLM's do; a native session runs the
adapter its "model" names, journaled, and is restored only where that adapter is served;
adapters load and unload at runtime over HTTP (when allowed), and an engine process restarted
after a crash loads the adapters it had."""

from __future__ import annotations

import time

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


def _engine_text(engine, prompt_ids, lora, ignore_eos=True):
    params = GenerationParams(max_tokens=6, ignore_eos=ignore_eos, lora=lora)
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
    import httpx

    metrics = httpx.get(f"{server.url}/metrics", timeout=60).text.splitlines()
    assert 'paste_model_requests_total{model="sql-lora"} 1.0' in metrics
    assert 'paste_model_requests_total{model="tiny"} 1.0' in metrics


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


def test_an_adapter_named_like_the_served_model_is_refused(engine, tmp_path):
    from paste.server.session_journal import SessionJournal
    from paste.server.store_journal import StoreJournal

    with pytest.raises(InvalidArgumentError, match="LoRA adapter name 'sql-lora' is also a "
                                                   "served model name"):
        with live_server(engine, model_aliases=("sql-lora",), session_dir=str(tmp_path),
                         response_dir=str(tmp_path)):
            pass
    # the refused server let go of its folders: another may own them now
    for journal in (SessionJournal(tmp_path), StoreJournal(tmp_path, "responses")):
        journal.close()


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


def test_a_native_session_runs_the_adapter_its_model_names(engine):
    import httpx

    from paste.server import BackgroundServer, ServerConfig, create_app

    app = create_app(engine, ServerConfig(model_id="tiny"))
    with BackgroundServer(app) as server:
        made = httpx.post(f"{server.url}/v1/sessions", timeout=60,
                          json={"tools": [], "system": "Be brief.", "model": "sql-lora",
                                "max_tokens": 6})
        assert made.status_code == 200, made.text
        assert made.json()["model"] == "sql-lora"
        sid = made.json()["id"]
        run = httpx.post(f"{server.url}/v1/sessions/{sid}/messages", timeout=60,
                         json={"content": "What does the adapter say?", "stream": False}).json()
        # what the engine gives the adapter for the prompt the session's turn had
        session = app.state.paste.sessions.get(sid)
        prompt = session.prompt_ids(session.messages[:2])
        assert run["text"] == _engine_text(engine, prompt, "sql-lora", ignore_eos=False)
        assert run["text"] != _engine_text(engine, prompt, None, ignore_eos=False)
        got = httpx.get(f"{server.url}/v1/sessions/{sid}", timeout=60).json()
        assert got["model"] == "sql-lora"
        base = httpx.post(f"{server.url}/v1/sessions", timeout=60, json={"tools": []}).json()
        assert base["model"] == "tiny"
        unknown = httpx.post(f"{server.url}/v1/sessions", timeout=60,
                             json={"tools": [], "model": "nope"})
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404,
                                                                          "model_not_found")


def test_a_journaled_adapter_session_is_restored_only_where_the_adapter_is_served(
        engine, folders, tmp_path):
    import httpx

    from tiny_model import make_tiny_engine

    folder = tmp_path / "sessions"
    with live_server(engine, session_dir=str(folder)) as srv:
        sid = httpx.post(f"{srv.url}/v1/sessions", timeout=60,
                         json={"tools": [], "model": "sql-lora"}).json()["id"]
    plain = make_tiny_engine(folders[0], dtype="float32")
    try:
        with live_server(plain, session_dir=str(folder)) as srv:
            assert httpx.get(f"{srv.url}/v1/sessions/{sid}", timeout=60).status_code == 404
    finally:
        plain.shutdown()
    assert [p.name for p in folder.glob("*.jsonl")] == [f"{sid}.jsonl"]  # kept
    with live_server(engine, session_dir=str(folder)) as srv:
        back = httpx.get(f"{srv.url}/v1/sessions/{sid}", timeout=60)
        assert (back.status_code, back.json()["model"]) == (200, "sql-lora")


def test_adapters_load_and_unload_over_http(engine, folders):
    import httpx

    with live_server(engine, allow_runtime_lora_updating=True) as srv:
        load = f"{srv.url}/v1/load_lora_adapter"
        unload = f"{srv.url}/v1/unload_lora_adapter"
        ok = httpx.post(load, json={"lora_name": "late", "lora_path": str(folders[1])},
                        timeout=60)
        assert (ok.status_code, ok.text) == (200, "Success: LoRA adapter 'late' added "
                                                  "successfully.")
        client = openai_client(srv)
        assert sorted(m.id for m in client.models.list().data) == ["late", "sql-lora", "tiny"]
        messages = [{"role": "user", "content": PROMPT}]
        texts = [client.chat.completions.create(model=m, messages=messages, max_tokens=6,
                                                temperature=0).choices[0].message.content
                 for m in ("late", "sql-lora")]
        assert texts[0] == texts[1]  # one adapter folder under two names
        again = httpx.post(load, json={"lora_name": "late", "lora_path": str(folders[1])},
                           timeout=60)
        assert (again.status_code, again.json()["error"]["message"]) == (
            400, "LoRA adapter 'late' is already loaded")
        bad = httpx.post(load, json={"lora_name": "bad", "lora_path": str(folders[0])},
                         timeout=60)
        assert bad.status_code == 400
        assert bad.json()["error"]["message"] == (
            f"{folders[0]}: no adapter_config.json (not a PEFT LoRA adapter)")
        taken = httpx.post(load, json={"lora_name": "tiny", "lora_path": str(folders[1])},
                           timeout=60)
        assert (taken.status_code, taken.json()["error"]["param"]) == (400, "lora_name")
        missing = httpx.post(load, json={"lora_name": "x"}, timeout=60)
        assert missing.json()["error"]["code"] == "missing_required_parameter"
        gone = httpx.post(unload, json={"lora_name": "late"}, timeout=60)
        assert (gone.status_code, gone.text) == (200, "Success: LoRA adapter 'late' removed "
                                                      "successfully.")
        twice = httpx.post(unload, json={"lora_name": "late"}, timeout=60)
        assert (twice.status_code, twice.json()["error"]["message"]) == (
            404, "LoRA adapter 'late' is not loaded")
        assert sorted(m.id for m in client.models.list().data) == ["sql-lora", "tiny"]
    with live_server(engine) as srv:  # off by default: no such routes
        off = httpx.post(f"{srv.url}/v1/load_lora_adapter", timeout=60,
                         json={"lora_name": "late", "lora_path": str(folders[1])})
        assert off.status_code == 404
    with live_server(engine, allow_runtime_lora_updating=True, api_key="k") as srv:
        refused = httpx.post(f"{srv.url}/v1/load_lora_adapter", timeout=60,
                             json={"lora_name": "late", "lora_path": str(folders[1])})
        assert refused.status_code == 401


def test_a_restarted_engine_process_loads_the_adapters_it_had(folders):
    import os
    import signal

    base, adapter = folders
    eng = ProcessEngine(str(base), max_restarts=1, **SETTINGS)
    try:
        eng.load_lora_adapter("late", str(adapter))
        ids = eng.encode(PROMPT)
        before = _engine_text(eng, ids, "late")
        os.kill(eng.pid, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while eng.num_restarts < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert eng.wait_ready(120)
        assert eng.lora_adapters() == (("late", str(adapter)),)
        assert _engine_text(eng, ids, "late") == before
    finally:
        eng.shutdown()
