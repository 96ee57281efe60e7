"""`paste serve`: argument defaults, --tools loading, and the real command serving a tiny
model in a subprocess until SIGINT."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from paste.cli import build_parser
from paste.errors import InvalidArgumentError
from paste.server.serve import (
    SWITCH_INTERVAL_S,
    freeze_heap,
    load_registry,
    model_id_for,
    prepare_process,
)
from test_server_support import HANG_GUARD_S, wait_until
from test_session_support import shared_tiny_folder

TOOLS_MODULE = '''
from paste.tools import ToolRegistry
registry = ToolRegistry()

@registry.tool(effect="pure")
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b
'''


def test_freeze_heap_freezes_what_is_alive_and_frees_it_when_dropped():
    import gc
    import weakref

    class Table(dict):
        pass

    table = Table(rules={"r": [1, 2]})
    gone = weakref.ref(table)
    before = gc.get_freeze_count()
    try:
        freeze_heap()
        assert gc.get_freeze_count() > before
        del table
        assert gone() is None  # reference counting still frees a frozen object
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def test_prepare_process_freezes_the_heap_and_shortens_the_switch_interval():
    import gc
    import sys

    default = sys.getswitchinterval()
    try:
        prepare_process()
        assert SWITCH_INTERVAL_S == 0.0001  # the interpreter keeps it in whole microseconds
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S, rel=1e-6)
        assert gc.get_freeze_count() > 0
    finally:
        sys.setswitchinterval(default)
        gc.unfreeze()


def test_serve_arguments_default_to_loopback():
    args = build_parser().parse_args(["serve", "--model", "m"])
    assert (args.model, args.host, args.port, args.api_key, args.tools) == (
        "m", "127.0.0.1", 8000, None, None)
    assert args.max_request_bytes is None and args.tool_call_parser is None
    assert args.engine_process is True
    assert build_parser().parse_args(["serve", "--no-engine-process"]).engine_process is False


def test_engine_flags_become_exactly_the_engine_config_overrides():
    from paste.cli.engine_args import engine_options

    for command in ("serve", "generate"):
        extra = ["hi"] if command == "generate" else []
        args = build_parser().parse_args([command, *extra, "--max-model-len", "2048",
                                          "--max-num-seqs", "8", "--dtype", "bfloat16",
                                          "--no-enable-prefix-caching", "--num-threads", "2",
                                          "--session-idle-s", "90", "--num-draft-tokens", "3",
                                          "--draft-ngram-min", "1", "--no-tune-matmul",
                                          "--no-adaptive-drafts"])
        assert engine_options(args) == {"max_model_len": 2048, "max_num_seqs": 8,
                                        "dtype": "bfloat16", "enable_prefix_caching": False,
                                        "num_threads": 2, "session_idle_s": 90.0,
                                        "num_draft_tokens": 3, "draft_ngram_min": 1,
                                        "tune_matmul": False, "adaptive_drafts": False}
        assert engine_options(build_parser().parse_args([command, *extra])) == {}


def test_vllm_command_line_flags_run_unchanged(capsys):
    from paste.cli import main
    from paste.cli.engine_args import engine_options

    args = build_parser().parse_args([
        "serve", "--model", "m", "--dtype", "auto", "-tp", "1", "--trust-remote-code",
        "--enforce-eager", "--gpu-memory-utilization", "0.85",
        "--enable-auto-tool-choice", "--disable-log-requests", "--tool-call-parser", "hermes"])
    # dtype: EngineConfig's default, resolved at load; the utilization sizes a CUDA cache
    assert engine_options(args) == {"dtype": "auto", "gpu_memory_utilization": 0.85}
    from paste.cli.serve_cmd import serve_engine_options

    assert serve_engine_options(args) == {"dtype": "auto", "gpu_memory_utilization": 0.85}
    seeded = build_parser().parse_args(["serve", "--model", "m", "--seed", "42"])
    assert serve_engine_options(seeded) == {"seed": 42}
    for vllm, ours in (("half", "float16"), ("float", "float32"), ("bfloat16", "bfloat16")):
        args = build_parser().parse_args(["generate", "hi", "--dtype", vllm])
        assert engine_options(args) == {"dtype": ours}
    assert main(["serve", "--model", "m", "--tensor-parallel-size", "2"]) == 2
    assert capsys.readouterr().err == ("error: --tensor-parallel-size must be 1 (paste runs a "
                                       "model on one device), got 2\n")


def test_max_stored_responses_reaches_the_server_config():
    from paste.cli.serve_cmd import server_options

    args = build_parser().parse_args(["serve", "--max-stored-responses", "7"])
    assert server_options(args)["max_stored_responses"] == 7
    assert server_options(build_parser().parse_args(["serve"]))["max_stored_responses"] == 1024


def test_stats_log_flags_reach_the_server_config():
    from paste.cli.serve_cmd import server_options

    def interval(*flags: str) -> object:
        return server_options(build_parser().parse_args(["serve", *flags]))[
            "log_stats_interval_s"]

    assert interval() == 10.0
    assert interval("--log-stats-interval", "2.5") == 2.5
    assert interval("--disable-log-stats") == 0.0  # vLLM's flag
    assert interval("--disable-log-stats", "--log-stats-interval", "3") == 0.0


def test_request_log_header_and_docs_flags_reach_the_server_config(capsys):
    from paste.cli import main
    from paste.cli.serve_cmd import server_options

    def options(*flags: str) -> tuple[object, ...]:
        out = server_options(build_parser().parse_args(["serve", *flags]))
        return (out["log_requests"], out["max_log_len"], out["request_id_headers"],
                out["disable_fastapi_docs"])

    assert options() == (False, None, False, False)
    assert options("--enable-log-requests", "--max-log-len", "5", "--enable-request-id-headers",
                   "--disable-fastapi-docs") == (True, 5, True, True)
    # vLLM's older --disable-log-requests wins
    assert options("--enable-log-requests", "--disable-log-requests") == (False, None, False,
                                                                          False)
    assert main(["serve", "m", "--enable-log-requests", "--max-log-len", "-1"]) == 2
    assert "max_log_len must be an integer >= 0 when set, got -1" in capsys.readouterr().err


def test_session_fsync_reaches_the_server_config_and_needs_a_session_dir(capsys):
    from paste.cli import main
    from paste.cli.serve_cmd import server_options

    args = build_parser().parse_args(["serve", "--session-dir", "d", "--session-fsync"])
    assert (server_options(args)["session_dir"], server_options(args)["session_fsync"]) == (
        "d", True)
    assert server_options(build_parser().parse_args(["serve"]))["session_fsync"] is False
    assert main(["serve", "--model", "m", "--session-fsync"]) == 2
    assert "session_fsync needs a session_dir" in capsys.readouterr().err


def test_a_bad_engine_flag_is_a_typed_error_naming_it(capsys):
    from paste.cli import main

    assert main(["serve", "--model", "m", "--max-model-len", "0"]) == 2
    assert "max_model_len must be positive, got 0" in capsys.readouterr().err
    assert main(["generate", "hi", "--model", "m", "--dtype", "int3"]) == 2
    assert ("dtype must be auto, float32, bfloat16 or float16, got 'int3'"
            in capsys.readouterr().err)
    assert main(["serve", "--model", "m", "--gpu-memory-utilization", "1.5"]) == 2
    assert "gpu_memory_utilization must be in (0, 1], got 1.5" in capsys.readouterr().err
    assert main(["serve", "--model", "m", "--engine-restarts", "-1"]) == 2
    assert "--engine-restarts must be >= 0, got -1" in capsys.readouterr().err
    assert main(["serve", "--model", "m", "--engine-step-timeout", "1"]) == 2
    assert "--engine-step-timeout must be 0 or > 2 s, got 1" in capsys.readouterr().err


def test_load_registry(tmp_path, monkeypatch):
    (tmp_path / "my_server_tools.py").write_text(TOOLS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_registry("my_server_tools:registry").names() == ["add"]
    for bad in ("my_server_tools", "no_such_module_xyz:registry", "json:dumps", "my_server_tools:ToolRegistry"):
        with pytest.raises(InvalidArgumentError):
            load_registry(bad)


def test_unknown_model_exits_with_2(capsys):
    from paste.cli import main

    assert main(["serve", "--model", "no-such-model-xyz"]) == 2
    assert "unknown model 'no-such-model-xyz'" in capsys.readouterr().err


def test_chat_template_is_a_file_or_the_template_and_must_parse(tmp_path, capsys):
    from paste.cli import main
    from paste.server.chat_template import load_chat_template

    inline = "{% for m in messages %}{{ m.content }}{% endfor %}"
    (tmp_path / "t.jinja").write_text(inline)
    assert load_chat_template(str(tmp_path / "t.jinja")) == inline == load_chat_template(inline)
    with pytest.raises(InvalidArgumentError, match="neither a readable file nor a template"):
        load_chat_template(str(tmp_path / "none.jinja"))
    with pytest.raises(InvalidArgumentError, match=r"does not parse: .* \(line 1\)"):
        load_chat_template("{% for m in messages %}{{ m.content }}")
    # refused before any model is loaded: bad input, exit 2
    assert main(["serve", "--model", "m", "--chat-template", "{% if %}"]) == 2
    assert capsys.readouterr().err.startswith("error: --chat-template does not parse")


def test_missing_api_key_file_is_bad_input_exit_2(tmp_path, capsys):
    from paste.cli import main

    assert main(["serve", "--model", "m", "--api-key-file", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot read --api-key-file '{tmp_path}/none'")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_paste_serve_subprocess_serves_until_sigint(tmp_path_factory, tmp_path):
    folder = shared_tiny_folder(tmp_path_factory)
    port = free_port()
    code = "import sys; from paste.cli import main; sys.exit(main())"
    log = tmp_path / "serve.log"
    key_file = tmp_path / "key"
    key_file.write_text("k\n")
    template = tmp_path / "template.jinja"  # vLLM's --chat-template, and its tools flag
    template.write_text("{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}")
    config = tmp_path / "config.yaml"  # vLLM's --config: flags from a YAML file
    config.write_text(f"port: {port}\nnum-blocks: 256\nmodel: not-this-one\n")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", str(folder), "--config", str(config),
             "--api-key-file", str(key_file), "--attention-backend", "torch",
             "--chat-template", str(template), "--enable-auto-tool-choice",
             "--log-stats-interval", "0.2", "--enable-log-requests", "--max-log-len", "9",
             "--enable-request-id-headers"],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up():  # a cheap probe: uvicorn listens once the app has started
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return True
        except OSError:
            return proc.poll() is not None  # died: stop waiting

    try:
        assert wait_until(up, interval_s=0.2) and proc.poll() is None, log.read_text()
        assert httpx.get(url + "/health").json() == {"status": "ok", "model": folder.name}
        models = httpx.get(url + "/v1/models", headers={"authorization": "Bearer k"}).json()
        assert [m["id"] for m in models["data"]] == [model_id_for(str(folder))] == [folder.name]
        assert httpx.get(url + "/v1/models").status_code == 401
        tokens = httpx.post(url + "/tokenize", headers={"authorization": "Bearer k"}, json={
            "model": folder.name, "messages": [{"role": "user", "content": "Hello"}]}).json()
        text = httpx.post(url + "/detokenize", headers={"authorization": "Bearer k"}, json={
            "model": folder.name, "tokens": tokens["tokens"]}).json()
        assert text["prompt"] == "[user] Hello\n", text
        answer = httpx.post(url + "/v1/completions", headers={"authorization": "Bearer k",
                                                               "x-request-id": "trace-7"},
                            json={"model": folder.name, "prompt": "Hello there, world, and a good morning to you",
                                  "max_tokens": 3, "ignore_eos": True})
        done = answer.json()
        assert done.get("usage", {}).get("completion_tokens") == 3, done
        assert answer.headers["x-request-id"] == "trace-7"
        # the request log (--enable-log-requests), prompt and ids cut to --max-log-len 9
        received = [line for line in log.read_text().splitlines()
                    if line.startswith(f"INFO:     Received request {done['id']}: prompt: ")]
        assert len(received) == 1, log.read_text()
        head, ids = received[0].split(", prompt_token_ids: ")
        assert head == (f"INFO:     Received request {done['id']}: prompt: 'Hello the', params: "
                        "GenerationParams(max_tokens=3, temperature=1.0, ignore_eos=True)")
        assert len(json.loads(ids)) == 9 < done["usage"]["prompt_tokens"]
        assert wait_until(lambda: f"INFO:     Finished request {done['id']}: " in log.read_text(),
                          interval_s=0.2), log.read_text()
        limit = models["data"][0]["max_model_len"]
        assert (f"paste serve: {folder.name} in float32, max_model_len {limit}, KV cache 256 "
                f"blocks of 16 tokens (4096 tokens), on http://127.0.0.1:{port}\n"
                in log.read_text())
        # the engine stats line, from the engine process's counters (server/stats_log.py)
        assert wait_until(lambda: "INFO:     paste: prompt " in log.read_text(),
                          interval_s=0.2), log.read_text()
        stats = [line for line in log.read_text().splitlines()
                 if line.startswith("INFO:     paste: prompt ")]
        assert all(", running " in line and "tok/s, generation " in line for line in stats)
        engines = child_pids(proc.pid)  # the engine runs in a process of its own
        assert len(engines) == 1
        os.kill(engines[0], signal.SIGKILL)  # a new engine process replaces it
        # the new process first, then health: a new pid exists only once the server saw the
        # exit (health 200 before that is the dead process not yet noticed)
        assert wait_until(lambda: child_pids(proc.pid) not in ([], engines)
                          and httpx.get(url + "/health").status_code == 200, interval_s=0.2)
        again = httpx.post(url + "/v1/completions", headers={"authorization": "Bearer k"},
                           json={"model": folder.name, "prompt": "Hello there, world, and a good morning to you",
                                 "max_tokens": 3, "ignore_eos": True}).json()
        assert again["choices"][0]["text"] == done["choices"][0]["text"]
        engines += child_pids(proc.pid)
        assert len(engines) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        returncode = proc.wait(HANG_GUARD_S)
    assert returncode == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in engines)


def child_pids(pid):
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
