"""The request log (server/request_log.py, ServerConfig.log_requests / max_log_len): the exact
Received and Finished lines of each generating route under the id its answer carries, the cut
to max_log_len, a batch of prompts, Aborted on a client disconnect (streamed or not) and on a
failure, nothing when off, the stderr handler serve() installs, and the config checks."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from paste.engine.grammar import GrammarSpec
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from paste.server import ServerConfig
from paste.server.generation import TextPiece, TurnEnd
from paste.server.request_log import (
    LOGGER_NAME,
    RequestLog,
    compact_params,
    follow,
    on_prompt,
    request_log,
)
from paste.server.serve import log_stats_to_stderr, log_to_stderr
from test_server_support import always, live_server, raw_post, wait_until

USER = [{"role": "user", "content": "Hi"}]
LONG = "Hello there! How can I help you today? " * 40


@pytest.fixture(scope="module")
def server(engine):
    with live_server(engine, log_requests=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def cut_server(engine):
    with live_server(engine, log_requests=True, max_log_len=5) as srv:
        yield srv


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Any:
    """The messages logged on "paste.requests" so far (a function of no arguments)."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    return lambda: [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]


def chat_prompt_ids(server: Any, messages: list[dict[str, Any]]) -> list[int]:
    """The exact prompt a chat completion computes (POST /tokenize with the messages)."""
    return httpx.post(server.url + "/tokenize", json={"messages": messages}).json()["tokens"]


def prompt_ids(server: Any, prompt: str) -> list[int]:
    return httpx.post(server.url + "/tokenize", json={"prompt": prompt}).json()["tokens"]


def decode(engine: Any, ids: list[int]) -> str:
    return engine.tokenizer.decode(ids, skip_special_tokens=False)


def test_chat_logs_received_and_finished_under_the_answer_id(engine, server, logged) -> None:
    ids = chat_prompt_ids(server, USER)
    with engine.scripted(always("Hello there.")):
        answer = httpx.post(server.url + "/v1/chat/completions", json={
            "model": "tiny", "messages": USER, "max_tokens": 16, "temperature": 0.5}).json()
    usage = answer["usage"]
    assert answer["id"].startswith("chatcmpl-")
    assert logged() == [
        f"Received request {answer['id']}: prompt: {decode(engine, ids)!r}, params: "
        f"GenerationParams(max_tokens=16, temperature=0.5), prompt_token_ids: {ids}",
        f"Finished request {answer['id']}: {usage['prompt_tokens']} prompt tokens, "
        f"{usage['completion_tokens']} output tokens, finish_reason stop"]
    assert usage["prompt_tokens"] == len(ids)


def test_chat_of_n_choices_logs_the_prompt_once(engine, server, logged) -> None:
    ids = chat_prompt_ids(server, USER)
    with engine.scripted(always(LONG)):
        answer = httpx.post(server.url + "/v1/chat/completions", json={
            "model": "tiny", "messages": USER, "max_tokens": 3, "n": 3, "seed": 7}).json()
    assert logged() == [
        f"Received request {answer['id']}: prompt: {decode(engine, ids)!r}, params: "
        f"GenerationParams(max_tokens=3, temperature=1.0, seed=7), prompt_token_ids: {ids}",
        f"Finished request {answer['id']}: {len(ids)} prompt tokens, 9 output tokens, "
        f"finish_reason length,length,length"]


def test_completions_batch_logs_each_prompt_then_one_end(engine, server, logged) -> None:
    first, second = prompt_ids(server, "Hi"), prompt_ids(server, "Yo")
    with engine.scripted(always(LONG)):
        answer = httpx.post(server.url + "/v1/completions", json={
            "model": "tiny", "prompt": ["Hi", "Yo"], "n": 2, "max_tokens": 3}).json()
    rid = answer["id"]
    assert rid.startswith("cmpl-") and answer["usage"]["prompt_tokens"] == len(first) + len(
        second)
    assert logged() == [
        f"Received request {rid}-0: prompt: {decode(engine, first)!r}, params: "
        f"GenerationParams(max_tokens=3, temperature=1.0), prompt_token_ids: {first}",
        f"Received request {rid}-1: prompt: {decode(engine, second)!r}, params: "
        f"GenerationParams(max_tokens=3, temperature=1.0), prompt_token_ids: {second}",
        f"Finished request {rid}: {len(first) + len(second)} prompt tokens, 12 output tokens, "
        f"finish_reason length,length,length,length"]


def test_one_completion_prompt_logs_the_plain_id(engine, server, logged) -> None:
    ids = prompt_ids(server, "Hi")
    with engine.scripted(always("Hello.")):
        answer = httpx.post(server.url + "/v1/completions", json={
            "model": "tiny", "prompt": "Hi", "max_tokens": 8, "temperature": 0}).json()
    assert logged() == [
        f"Received request {answer['id']}: prompt: {decode(engine, ids)!r}, params: "
        f"GenerationParams(max_tokens=8), prompt_token_ids: {ids}",
        f"Finished request {answer['id']}: {len(ids)} prompt tokens, "
        f"{answer['usage']['completion_tokens']} output tokens, finish_reason stop"]


def test_streamed_response_logs_under_its_response_id(engine, server, logged) -> None:
    ids = chat_prompt_ids(server, USER)
    with engine.scripted(always("Fine.")), httpx.stream(
            "POST", server.url + "/v1/responses",
            json={"model": "tiny", "input": "Hi", "stream": True}) as response:
        events = [json.loads(line[len("data: "):]) for line in response.iter_lines()
                  if line.startswith("data: ")]
    final = events[-1]["response"]
    assert events[-1]["type"] == "response.completed" and final["id"].startswith("resp_")
    assert logged() == [
        f"Received request {final['id']}: prompt: {decode(engine, ids)!r}, params: "
        f"GenerationParams(max_tokens=1024, temperature=1.0), prompt_token_ids: {ids}",
        f"Finished request {final['id']}: {final['usage']['input_tokens']} prompt tokens, "
        f"{final['usage']['output_tokens']} output tokens, finish_reason stop"]


def test_max_log_len_cuts_the_prompt_text_and_its_ids(engine, cut_server, logged) -> None:
    ids = chat_prompt_ids(cut_server, USER)
    assert len(ids) > 5 and len(decode(engine, ids)) > 5
    with engine.scripted(always("Hello there.")):
        answer = httpx.post(cut_server.url + "/v1/chat/completions", json={
            "model": "tiny", "messages": USER, "max_tokens": 16, "temperature": 0}).json()
    assert logged()[0] == (
        f"Received request {answer['id']}: prompt: {decode(engine, ids)[:5]!r}, params: "
        f"GenerationParams(max_tokens=16), prompt_token_ids: {ids[:5]}")


def test_streaming_disconnect_logs_aborted(engine, server, logged) -> None:
    with engine.scripted(always(LONG)), httpx.stream(
            "POST", server.url + "/v1/chat/completions",
            json={"model": "tiny", "messages": USER, "stream": True}) as response:
        first = json.loads(next(response.iter_lines())[len("data: "):])
    assert wait_until(lambda: len(logged()) == 2)
    lines = logged()
    assert lines[0].startswith(f"Received request {first['id']}: ")
    assert lines[1] == f"Aborted request {first['id']}"
    assert wait_until(lambda: engine.core.loop.num_running == 0)


def test_non_streaming_disconnect_logs_aborted(engine, server, logged) -> None:
    body = json.dumps({"model": "tiny", "messages": USER}).encode()
    request = raw_post("/v1/chat/completions", body)
    count = len(engine.handles)
    with engine.scripted(always(LONG)):
        with socket.create_connection((server.host, server.port)) as sock:
            sock.sendall(request)
            assert wait_until(lambda: len(engine.handles) == count + 1)
            handle = engine.handles[-1]
            assert wait_until(lambda: handle.request is not None and handle.request.output_ids)
    assert wait_until(lambda: len(logged()) == 2)
    received, aborted = logged()
    rid = received[len("Received request "):].split(":")[0]
    assert rid.startswith("chatcmpl-") and aborted == f"Aborted request {rid}"
    assert handle.result().finish_reason == "abort"


def test_a_failed_request_logs_aborted(engine, server, logged) -> None:
    too_long = [{"role": "user", "content": "Paris " * 5000}]
    response = httpx.post(server.url + "/v1/chat/completions",
                          json={"model": "tiny", "messages": too_long})
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages"
    received, aborted = logged()
    rid = received[len("Received request "):].split(":")[0]
    assert rid.startswith("chatcmpl-") and aborted == f"Aborted request {rid}"


def test_invalid_request_logs_nothing(server, logged) -> None:
    response = httpx.post(server.url + "/v1/chat/completions", json={"model": "tiny"})
    assert response.status_code == 400
    assert logged() == []


def test_nothing_is_logged_when_off(engine, logged) -> None:
    with live_server(engine) as srv, engine.scripted(always("Hi.")):
        assert httpx.post(srv.url + "/v1/chat/completions",
                          json={"model": "tiny", "messages": USER}).status_code == 200
        assert httpx.post(srv.url + "/v1/completions",
                          json={"model": "tiny", "prompt": "Hi"}).status_code == 200
        assert httpx.post(srv.url + "/v1/responses",
                          json={"model": "tiny", "input": "Hi"}).status_code == 200
    assert logged() == []


def test_off_means_no_log_no_hook_and_unwrapped_events() -> None:
    state = SimpleNamespace(config=ServerConfig(model_id="m"), engine=None)
    assert request_log(state, "chatcmpl-x") is None
    assert on_prompt(None) is None
    events = _events([])
    assert follow(None, events) is events


# ----- RequestLog and compact_params alone -------------------------------------------------

def _end(reason: str, prompt: int = 4, output: int = 2) -> TurnEnd:
    return TurnEnd(reason, prompt, 0, output, None)


async def _events(items: list[Any], closed: list[bool] | None = None,
                  error: Exception | None = None) -> Any:
    try:
        for item in items:
            yield item
        if error is not None:
            raise error
    finally:
        if closed is not None:
            closed.append(True)


def _drain(log: RequestLog, items: list[Any], take: int | None = None,
           error: Exception | None = None) -> list[bool]:
    """Consume log.follow(items) (only `take` of them, then close it); returns whether the
    inner stream was closed."""
    closed: list[bool] = []

    async def run() -> None:
        stream = log.follow(_events(items, closed, error))
        got = 0
        async for _ in stream:
            got += 1
            if take is not None and got == take:
                break
        await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(run())
    return closed


def test_follow_logs_finished_once_every_choice_ended(logged) -> None:
    log = RequestLog("cmpl-1", None, None, num_prompts=2, num_choices=2)
    items = [(0, TextPiece("a")), (1, _end("stop", 5, 3)), (2, _end("length", 7, 1)),
             (0, _end("stop", 5, 2)), (3, _end("stop", 7, 4))]
    assert _drain(log, items, take=len(items)) == [True]  # closed after its last TurnEnd
    assert logged() == ["Finished request cmpl-1: 12 prompt tokens, 10 output tokens, "
                        "finish_reason stop,stop,length,stop"]


def _received(request_id: str) -> RequestLog:
    """A RequestLog whose prompt was logged."""
    log = RequestLog(request_id, None, 0)
    log.on_prompt()([1], GenerationParams())
    return log


def test_follow_closed_early_or_failing_logs_aborted_once(logged) -> None:
    log = _received("chatcmpl-2")
    assert _drain(log, [TextPiece("a"), _end("stop")], take=1) == [True]
    log.abort()
    failing = _received("resp_3")
    with pytest.raises(ValueError, match="boom"):
        _drain(failing, [TextPiece("a")], error=ValueError("boom"))
    ended = _received("resp_4")
    assert _drain(ended, [TextPiece("a")]) == [True]  # no TurnEnd: it did not finish
    assert [line for line in logged() if not line.startswith("Received")] == [
        "Aborted request chatcmpl-2", "Aborted request resp_3", "Aborted request resp_4"]


def test_a_request_failing_before_its_prompt_logs_nothing(logged) -> None:
    log = RequestLog("chatcmpl-7", None, None)
    with pytest.raises(ValueError, match="render"):
        _drain(log, [], error=ValueError("render"))
    assert logged() == []


def test_prompt_hook_logs_each_prompt_once_and_cuts(logged) -> None:
    log = RequestLog("cmpl-5", lambda ids: "".join(chr(97 + i) for i in ids), 0, num_prompts=2)
    first, second = log.on_prompt(0), log.on_prompt(1)
    params = GenerationParams(max_tokens=4)
    first([0, 1, 2], params)
    first([0, 1, 2], params)  # choice 1 of the same prompt
    second([3], params)
    whole = RequestLog("resp_6", None, None)
    whole.on_prompt()([7, 8], GenerationParams())
    assert logged() == [
        "Received request cmpl-5-0: prompt: '', params: GenerationParams(max_tokens=4), "
        "prompt_token_ids: []",
        "Received request cmpl-5-1: prompt: '', params: GenerationParams(max_tokens=4), "
        "prompt_token_ids: []",
        "Received request resp_6: prompt: None, params: GenerationParams(), "
        "prompt_token_ids: [7, 8]"]


def test_compact_params_names_what_differs_from_the_defaults() -> None:
    assert compact_params(GenerationParams()) == "GenerationParams()"
    params = GenerationParams(max_tokens=16, temperature=0.5, stop=("\n",), seed=3,
                              grammar=GrammarSpec(regex="[ab]+"), logit_bias=((5, 1.0),))
    assert compact_params(params) == (
        "GenerationParams(max_tokens=16, temperature=0.5, seed=3, stop=('\\n',), "
        "grammar=GrammarSpec, logit_bias=((5, 1.0),))")


# ----- config and serve() ------------------------------------------------------------------

def test_config_fields_and_max_log_len_checks() -> None:
    config = ServerConfig(model_id="m")
    assert (config.log_requests, config.max_log_len) == (False, None)
    assert ServerConfig(model_id="m", log_requests=True, max_log_len=0).max_log_len == 0
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(InvalidArgumentError) as info:
            ServerConfig(model_id="m", max_log_len=bad)  # type: ignore[arg-type]
        assert str(info.value) == f"max_log_len must be an integer >= 0 when set, got {bad!r}"


def test_log_to_stderr_installs_one_info_handler_and_keeps_an_existing_one() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        logger.handlers.clear()
        log_to_stderr(LOGGER_NAME)
        (handler,) = logger.handlers
        assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
        assert (logger.level, logger.propagate) == (logging.INFO, False)
        assert handler.formatter is not None
        assert handler.formatter._fmt == "%(levelname)s:     %(message)s"
        log_to_stderr(LOGGER_NAME)
        assert logger.handlers == [handler]
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
    stats = logging.getLogger("paste.stats")
    saved = (list(stats.handlers), stats.level, stats.propagate)
    try:
        stats.handlers.clear()
        log_stats_to_stderr()  # the existing caller: the stats logger, as before
        assert len(stats.handlers) == 1 and stats.level == logging.INFO
    finally:
        stats.handlers[:] = saved[0]
        stats.setLevel(saved[1])
        stats.propagate = saved[2]


def test_a_native_session_logs_each_model_turn(engine, logged) -> None:
    import ast

    from paste.tools import ToolRegistry
    from test_session_journal import ANSWER, weather_script

    reg = ToolRegistry()

    @reg.tool(effect="read_only", timeout_s=30)
    def get_weather(city: str) -> str:
        """Weather of a city."""
        return f"22 C in {city}"

    try:
        with live_server(engine, tools=reg, log_requests=True) as srv, \
                engine.scripted(weather_script):
            sid = httpx.post(srv.url + "/v1/sessions", json={
                "tools": ["get_weather"], "system": "Be brief."}).json()["id"]
            done = httpx.post(srv.url + f"/v1/sessions/{sid}/messages", timeout=60,
                              json={"content": "Weather in Paris?", "stream": False}).json()
    finally:
        reg.close()
    assert done["text"] == ANSWER
    turns = done["metrics"]["turns"]
    lines = logged()
    assert len(lines) == 4 and len(turns) == 2  # the call's turn, then the answer's
    for n, (received, finished, turn) in enumerate(zip(lines[::2], lines[1::2], turns,
                                                       strict=True), start=1):
        assert received.startswith(f"Received request {sid}-turn{n}: prompt: '<|im_start|>")
        ids = ast.literal_eval(received.rsplit("prompt_token_ids: ", 1)[1])
        assert len(ids) == turn["num_prompt_tokens"]
        assert finished == (f"Finished request {sid}-turn{n}: {turn['num_prompt_tokens']} "
                            f"prompt tokens, {turn['num_output_tokens']} output tokens, "
                            f"finish_reason stop")


def test_a_session_turn_cut_short_logs_aborted(logged) -> None:
    from paste.server.session_log import SessionRequestLog

    class FakeHandle:  # a turn whose last output never comes
        final = None

        def __iter__(self):
            yield SimpleNamespace(finished=False, finish_reason=None)

        def abort(self) -> None:
            pass

    class FakeEngine:
        def submit_turn(self, *_args: Any) -> FakeHandle:
            return FakeHandle()

    proxy = SessionRequestLog(FakeEngine(), "s-1", None, None)
    assert len(list(proxy.submit_turn("s-1", [5, 6], GenerationParams()))) == 1
    assert logged() == ["Received request s-1-turn1: prompt: None, params: GenerationParams(), "
                        "prompt_token_ids: [5, 6]", "Aborted request s-1-turn1"]
