"""ProcessEngine(max_restarts=N): an engine process that exits is replaced by a new one.

The requests it was running that had given output, and those submitted before the new one is
ready, fail with the retryable EngineRestartingError; those that had given nothing yet are sent
to the new one (once); then the engine serves as before (same model, same outputs).
Once the restarts are used up, or a new process cannot start, the engine ends for good with
EngineStoppedError saying why. A session whose turn is lost before it dispatched a call runs
that turn again; one that had dispatched a call ends with status "error". Random tiny model.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from paste.engine.engine import EngineRestartingError, EngineStoppedError
from paste.engine.process_engine import ProcessEngine
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from test_server_support import wait_until
from tiny_model import build_tiny_model

SETTINGS = dict(attention_backend="torch", block_size=4, num_blocks=256,
                max_num_batched_tokens=64, num_threads=1)
GREEDY = GenerationParams(max_tokens=8, ignore_eos=True)
LONG = GenerationParams(max_tokens=900, ignore_eos=True)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-restart"), "llama")


def kill_child(engine):
    os.kill(engine.pid, signal.SIGKILL)
    assert wait_until(lambda: engine.restarting or engine.failure is not None,
                      interval_s=0.005)


def test_a_killed_engine_process_is_replaced_and_serves_the_same_outputs(tiny_folder):
    engine = ProcessEngine(str(tiny_folder), max_restarts=1, **SETTINGS)
    try:
        before = engine.generate(["The capital of France"], GREEDY)[0]
        first_pid = engine.pid
        handle = engine.submit(engine.encode("Hello"), LONG)
        next(iter(handle))
        kill_child(engine)
        with pytest.raises(EngineRestartingError,
                           match=r"exited \(code -9\) while the request ran; .*submit it again"):
            handle.result()
        # until the new process is ready (seconds: torch import, model load), requests get
        # the retryable error too
        assert engine.restarting
        assert engine.failure == ("the engine process exited (code -9); a new one is "
                                  "starting")
        with pytest.raises(EngineRestartingError, match="a new one is starting"):
            engine.submit("Hello", GREEDY)
        with pytest.raises(EngineRestartingError):
            engine.submit_turn("s", engine.encode("Hello"), GREEDY)
        engine.end_session("s")  # the KV went with the process: a no-op, no error
        assert engine.wait_ready(120) is True
        assert (engine.failure, engine.restarting, engine.num_restarts) == (None, False, 1)
        assert engine.pid != first_pid
        after = engine.generate(["The capital of France"], GREEDY)[0]
        assert (after.token_ids, after.text) == (before.token_ids, before.text)
        # a session key of the dead process starts from nothing: no cached tokens
        out = engine.submit_turn("s", engine.encode("Hello there"), GREEDY).result()
        assert (out.num_cached_tokens, len(out.token_ids)) == (0, 8)
        assert engine.stats().num_running == 0
    finally:
        engine.shutdown()
    assert engine.failure == "the engine is shut down"


def test_requests_that_gave_no_output_yet_run_on_the_new_process(tiny_folder):
    # one sequence at a time: the second request waits in the queue behind the first
    engine = ProcessEngine(str(tiny_folder), max_restarts=1, max_num_seqs=1, **SETTINGS)
    try:
        expected = engine.generate(["The capital of France"], GREEDY)[0]
        running = engine.submit(engine.encode("Hello"), LONG)
        next(iter(running))
        queued = engine.submit("The capital of France", GREEDY)
        turn = engine.submit_turn("s", engine.encode("The capital of France"), GREEDY)
        kill_child(engine)
        with pytest.raises(EngineRestartingError, match="while the request ran"):
            running.result()  # it had streamed a token: not run again
        out = queued.result()  # the caller only waited longer
        assert (out.token_ids, out.text, out.finish_reason) == (
            expected.token_ids, expected.text, "length")
        assert turn.result().token_ids == expected.token_ids
        assert (engine.num_restarts, engine.num_resubmitted) == (1, 2)
        assert engine.stats().num_running == 0
    finally:
        engine.shutdown()


def test_a_request_lost_in_two_exits_fails(tiny_folder):
    # a long prompt prefilled 16 tokens a step: the resent request gives no output for 20
    # steps, and its second process is killed under it
    settings = {**SETTINGS, "max_num_batched_tokens": 16}
    engine = ProcessEngine(str(tiny_folder), max_restarts=2, max_num_seqs=1, **settings)
    try:
        running = engine.submit(engine.encode("Hello"), LONG)
        next(iter(running))
        queued = engine.submit(list(range(5, 325)), GREEDY)
        kill_child(engine)
        assert engine.wait_ready(120)
        kill_child(engine)  # the resent request is still in its prefill
        with pytest.raises(EngineRestartingError, match="while the request ran"):
            queued.result()
        assert engine.wait_ready(120)
        assert (engine.num_restarts, engine.num_resubmitted) == (2, 1)
        assert len(engine.generate([list(range(5, 325))], GREEDY)[0].token_ids) == 8
    finally:
        engine.shutdown()


def test_a_request_aborted_while_the_new_process_starts_is_not_sent_to_it(tiny_folder):
    engine = ProcessEngine(str(tiny_folder), max_restarts=1, max_num_seqs=1, **SETTINGS)
    try:
        running = engine.submit(engine.encode("Hello"), LONG)
        next(iter(running))
        queued = engine.submit("The capital of France", GREEDY)
        kill_child(engine)
        queued.abort()  # the new process takes seconds to load the model
        with pytest.raises(EngineRestartingError,
                           match="starting; the request was aborted while it waited for it"):
            queued.result()
        assert engine.wait_ready(120)
        assert (engine.num_restarts, engine.num_resubmitted) == (1, 0)
    finally:
        engine.shutdown()


def test_requests_kept_for_a_new_process_that_cannot_start_fail_saying_why(tiny_folder,
                                                                         tmp_path):
    folder = shutil.copytree(tiny_folder, tmp_path / "model")
    engine = ProcessEngine(str(folder), max_restarts=1, max_num_seqs=1, **SETTINGS)
    try:
        running = engine.submit(engine.encode("Hello"), LONG)
        next(iter(running))
        queued = engine.submit("The capital of France", GREEDY)
        (folder / "config.json").write_text("{ not json")  # the next load fails
        kill_child(engine)
        with pytest.raises(EngineStoppedError, match="starting a new one failed") as caught:
            queued.result()
        assert not isinstance(caught.value, EngineRestartingError)
        assert engine.num_resubmitted == 0
    finally:
        engine.shutdown()


def test_the_exit_after_the_last_restart_ends_the_engine(tiny_folder):
    engine = ProcessEngine(str(tiny_folder), max_restarts=1, **SETTINGS)
    try:
        kill_child(engine)
        assert engine.wait_ready(120)
        handle = engine.submit(engine.encode("Hello"), LONG)
        next(iter(handle))
        kill_child(engine)
        with pytest.raises(EngineStoppedError, match=r"exited \(code -9\)") as caught:
            handle.result()
        assert not isinstance(caught.value, EngineRestartingError)
        assert engine.wait_ready(1) is False
        assert (engine.failure, engine.restarting) == ("the engine process exited (code -9)",
                                                       False)
        with pytest.raises(EngineStoppedError, match=r"exited \(code -9\)") as refused:
            engine.submit("Hello")
        assert not isinstance(refused.value, EngineRestartingError)
        assert engine.num_restarts == 1
    finally:
        engine.shutdown()


def test_restarts_older_than_the_window_do_not_count(tiny_folder):
    engine = ProcessEngine(str(tiny_folder), max_restarts=1, restart_window_s=0.5, **SETTINGS)
    try:
        kill_child(engine)
        assert engine.wait_ready(120)
        time.sleep(0.6)  # the first restart left the window
        kill_child(engine)
        assert engine.wait_ready(120)
        assert (engine.num_restarts, engine.failure) == (2, None)
    finally:
        engine.shutdown()


def test_a_new_process_that_cannot_start_ends_the_engine_saying_why(tiny_folder, tmp_path):
    folder = shutil.copytree(tiny_folder, tmp_path / "model")
    engine = ProcessEngine(str(folder), max_restarts=3, **SETTINGS)
    try:
        (folder / "config.json").write_text("{ not json")  # the next load fails
        kill_child(engine)
        assert engine.wait_ready(120) is False
        assert engine.failure.startswith("the engine process exited (code -9); starting a new "
                                         "one failed: ")
        with pytest.raises(EngineStoppedError, match="starting a new one failed"):
            engine.submit("Hello")
    finally:
        engine.shutdown()


def engine_processes():
    """pids of this test process's children that run an engine process."""
    from test_server_cli import child_pids

    found = []
    for pid in child_pids(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"paste.engine.process_child" in cmdline:
            found.append(pid)
    return found


def test_shutdown_while_a_new_process_starts_leaves_no_process(tiny_folder):
    engine = ProcessEngine(str(tiny_folder), max_restarts=1, **SETTINGS)
    assert engine_processes() == [engine.pid]
    kill_child(engine)
    engine.shutdown()
    assert engine.failure == "the engine is shut down"
    assert not engine._reader.is_alive()
    assert engine_processes() == []


def test_restart_options_are_checked(tiny_folder):
    with pytest.raises(InvalidArgumentError, match="max_restarts must be >= 0"):
        ProcessEngine(str(tiny_folder), max_restarts=-1, **SETTINGS)
    with pytest.raises(InvalidArgumentError, match="restart_window_s > 0"):
        ProcessEngine(str(tiny_folder), restart_window_s=0, **SETTINGS)
    with pytest.raises(InvalidArgumentError, match=r"step_timeout_s must be > 2 s"):
        ProcessEngine(str(tiny_folder), step_timeout_s=1.0, **SETTINGS)


def test_a_hung_engine_process_is_killed_and_replaced(tiny_folder):
    engine = ProcessEngine(str(tiny_folder), max_restarts=1, step_timeout_s=2.5, **SETTINGS)
    try:
        time.sleep(3.5)  # idle longer than the step timeout: nothing to watch, no kill
        assert len(engine.generate(["Hello"], GREEDY)[0].token_ids) == 8
        assert engine.num_restarts == 0
        handle = engine.submit(engine.encode("Hello"), LONG)
        next(iter(handle))
        os.kill(engine.pid, signal.SIGSTOP)  # the process stays but says nothing: a hang
        with pytest.raises(EngineRestartingError,
                           match=r"^the engine process sent nothing for \d+ s while it had "
                                 r"requests \(step timeout 2.5 s\): killed while the request "
                                 r"ran; a new one is starting: submit it again$"):
            handle.result()
        assert engine.wait_ready(120)
        assert (engine.num_restarts, engine.failure) == (1, None)
        assert len(engine.generate(["Hello"], GREEDY)[0].token_ids) == 8
    finally:
        engine.shutdown()


def test_a_hung_engine_process_with_no_restart_left_ends_the_engine(tiny_folder):
    engine = ProcessEngine(str(tiny_folder), step_timeout_s=2.5, **SETTINGS)
    try:
        handle = engine.submit(engine.encode("Hello"), LONG)
        next(iter(handle))
        os.kill(engine.pid, signal.SIGSTOP)
        with pytest.raises(EngineStoppedError, match="step timeout 2.5 s"):
            handle.result()
        assert engine.failure.startswith("the engine process sent nothing for ")
        assert not engine.restarting
    finally:
        engine.shutdown()


# ----- sessions ------------------------------------------------------------------------------
def session_engine(tmp_path_factory):
    from test_session_support import shared_tiny_folder

    return ProcessEngine(str(shared_tiny_folder(tmp_path_factory)), max_restarts=1,
                         block_size=4, num_blocks=2048, num_threads=1,
                         attention_backend="torch")


def killing_registry(engine, log):
    """A read_only `lookup` that SIGKILLs the engine process (as the OOM killer would) when it
    is the first entry of `log`, and returns once a new one is starting."""
    from paste.tools import ToolRegistry

    registry = ToolRegistry()

    @registry.tool(effect="read_only")
    def lookup(city: str) -> str:
        """Weather of a city.

        Args:
            city: the city
        """
        log.append(city)
        if len(log) == 1:
            kill_child(engine)
        return f"{city}: 22 C"

    return registry


def test_a_session_turn_lost_to_a_restart_runs_again_on_the_new_process(tmp_path_factory):
    from paste.session import Final, TokenDelta, ToolCallEvent, ToolResultEvent, TurnRestarted
    from test_session_support import FakeScriptedPolicy, call_text

    engine = session_engine(tmp_path_factory)
    log: list[str] = []
    registry = killing_registry(engine, log)
    answers: list[str] = []

    def answer(messages):  # turn 2, asked for as it starts: the first time, kill the engine
        answers.append("asked")
        if len(answers) == 1:
            kill_child(engine)
        return "It is 22 C."

    log.append("no kill in the tool")
    try:
        policy = FakeScriptedPolicy(engine, [call_text("lookup", city="Paris"), answer])
        with engine.open_session(tools=registry, turn_params=policy, parser="json") as session:
            events = list(session.stream("Weather in Paris?"))
            turns = session.metrics()["turns"]
    finally:
        engine.shutdown()
        registry.close()
    kinds = [type(e) for e in events if not isinstance(e, TokenDelta)]
    assert kinds == [ToolCallEvent, ToolResultEvent, TurnRestarted, Final]
    restarted = events[kinds.index(TurnRestarted)]
    assert restarted.reason == ("the model turn was lost: the engine process exited (code -9); "
                                "a new one is starting")
    assert "".join(e.text for e in events[events.index(restarted):]
                   if isinstance(e, TokenDelta)) == "It is 22 C."
    assert events[-1] == Final("It is 22 C.", "completed")
    assert [m["role"] for m in session.messages] == ["user", "assistant", "tool", "assistant"]
    assert session.messages[2]["content"] == "Paris: 22 C"
    assert log == ["no kill in the tool", "Paris"]  # the tool ran once
    assert answers == ["asked", "asked"]  # turn 2 ran twice
    # the KV parked in the dead process is gone: the second turn prefilled its whole prompt
    assert [t["num_cached_tokens"] for t in turns] == [0, 0]
    assert engine.num_restarts == 1


def test_a_turn_lost_after_it_dispatched_a_call_ends_the_run_with_an_error(tmp_path_factory):
    from test_session_support import FakeScriptedPolicy

    engine = session_engine(tmp_path_factory)
    log: list[str] = []
    registry = killing_registry(engine, log)
    # the call is dispatched the moment it is decoded; the turn then decodes 600 more tokens,
    # and the engine process is killed under them
    turn = ('<tool_call>\n{"name": "lookup", "arguments": {"city": "Paris"}}\n</tool_call>'
            + " and more" * 300)
    try:
        policy = FakeScriptedPolicy(engine, [turn, "never"])
        with engine.open_session(tools=registry, turn_params=policy,
                                 parser="hermes") as session:
            result = session.run("Weather in Paris?")
    finally:
        engine.shutdown()
        registry.close()
    assert result.status == "error"
    assert result.final_text == ("error: the model turn failed: the engine process exited "
                                 "(code -9) while the request ran; a new one is starting: "
                                 "submit it again")
    assert log == ["Paris"]  # never run a second time by a rerun of the turn
    assert [m["role"] for m in result.messages] == ["user"]


# ----- the server ----------------------------------------------------------------------------
def test_a_server_answers_503_while_its_engine_restarts_and_serves_after(tiny_folder):
    import httpx

    from test_server_support import live_server, openai_client

    engine = ProcessEngine(str(tiny_folder), max_restarts=1, **SETTINGS)
    body = {"model": "tiny", "prompt": "Hello", "max_tokens": 3, "ignore_eos": True}
    try:
        with live_server(engine) as server:
            want = httpx.post(server.url + "/v1/completions", json=body, timeout=60).json()
            kill_child(engine)
            health = httpx.get(server.url + "/health")
            assert (health.status_code, health.json()) == (503, {
                "status": "restarting", "model": "tiny",
                "error": "the engine process exited (code -9); a new one is starting"})
            refused = httpx.post(server.url + "/v1/completions", json=body, timeout=60)
            assert (refused.status_code, refused.headers["retry-after"]) == (503, "2")
            assert refused.json()["error"]["code"] == "engine_restarting"
            # an OpenAI client retries a 503 after its Retry-After: it gets its completion
            client = openai_client(server, max_retries=8)
            got = client.completions.create(model="tiny", prompt="Hello", max_tokens=3,
                                            extra_body={"ignore_eos": True})
            assert got.choices[0].text == want["choices"][0]["text"]
            assert httpx.get(server.url + "/health").json() == {"status": "ok", "model": "tiny"}
            metrics = httpx.get(server.url + "/metrics").text
            assert "paste_engine_restarts_total 1.0" in metrics.splitlines()
            assert "paste_engine_requests_resubmitted_total 0.0" in metrics.splitlines()
    finally:
        engine.shutdown()


def test_a_completion_queued_when_the_engine_process_exits_gets_its_200(tiny_folder):
    import threading

    import httpx

    from test_server_support import live_server

    engine = ProcessEngine(str(tiny_folder), max_restarts=1, max_num_seqs=1, **SETTINGS)
    body = {"model": "tiny", "prompt": "Hello", "max_tokens": 3, "ignore_eos": True}
    try:
        with live_server(engine) as server:
            want = httpx.post(server.url + "/v1/completions", json=body, timeout=60).json()
            running = engine.submit(engine.encode("Hi"), LONG)  # holds the one sequence slot
            next(iter(running))
            answers: list[httpx.Response] = []
            waiter = threading.Thread(target=lambda: answers.append(httpx.post(
                server.url + "/v1/completions", json=body, timeout=120)))
            waiter.start()
            assert wait_until(lambda: engine.stats().num_waiting == 1)
            kill_child(engine)
            waiter.join(120)
            assert answers[0].status_code == 200
            assert answers[0].json()["choices"][0]["text"] == want["choices"][0]["text"]
            metrics = httpx.get(server.url + "/metrics").text.splitlines()
            assert "paste_engine_requests_resubmitted_total 1.0" in metrics
    finally:
        engine.shutdown()


def test_a_turn_restarted_event_reaches_session_streams_as_its_own_type():
    from paste.server.sessions import _event_payload
    from paste.session import TurnRestarted

    assert _event_payload(TurnRestarted("the model turn was lost: x")) == {
        "type": "turn_restarted", "reason": "the model turn was lost: x"}
