"""ProcessEngine: the engine's core in a child process. On a random tiny model, everything a
caller reads (token ids, text, deltas, logprobs, finish reasons, cached-token counts, typed
errors) must equal what the in-process Engine gives for the same requests; a dead child must
fail every waiter with EngineStoppedError, never hang."""

from __future__ import annotations

import os
import signal
import time

import pytest

from paste.engine.call_events import CallEventKind, CallScan
from paste.engine.engine import Engine, EngineStoppedError
from paste.engine.grammar import GrammarSpec
from paste.engine.pooling import PoolingParams
from paste.engine.process_child import portable
from paste.engine.process_engine import EngineProcessError, ProcessEngine
from paste.engine.request import GenerationParams
from paste.engine.stats import EngineStats
from paste.errors import InvalidArgumentError
from tiny_model import build_tiny_model

PROMPTS = ["The capital of France", "def add(a, b):", "Hello there! How can I", "tool results: 42"]
SETTINGS = dict(attention_backend="torch", block_size=4, num_blocks=256,
                max_num_batched_tokens=64, num_threads=1)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")


@pytest.fixture(scope="module")
def both(tiny_folder):
    local = Engine(str(tiny_folder), **SETTINGS)
    remote = ProcessEngine(str(tiny_folder), **SETTINGS)
    yield local, remote
    remote.shutdown()
    local.shutdown()


def wait_for(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_engine_runs_in_another_process_and_says_what_it_is(both):
    local, remote = both
    assert remote.pid is not None and remote.pid != os.getpid()
    assert remote.info == local.info
    assert (remote.max_model_len, remote.vocab_size) == (local.max_model_len, local.vocab_size)
    stats = remote.stats()
    assert isinstance(stats, EngineStats) and stats.num_blocks == 256


def test_batched_outputs_equal_the_in_process_engine(both):
    local, remote = both
    ids = [remote.encode(p) for p in PROMPTS]
    params = GenerationParams(max_tokens=12, ignore_eos=True, logprobs=2)
    got, want = remote.generate(ids, params), local.generate(ids, params)
    assert [o.token_ids for o in got] == [o.token_ids for o in want]
    assert [o.text for o in got] == [o.text for o in want]
    # equal ids; values up to float noise (the two engines may batch the four differently)
    flat = [(lp.token_id, [t for t, _ in lp.top]) for o in got for lp in o.logprobs]
    assert flat == [(lp.token_id, [t for t, _ in lp.top]) for o in want for lp in o.logprobs]
    assert [lp.logprob for o in got for lp in o.logprobs] == pytest.approx(
        [lp.logprob for o in want for lp in o.logprobs], abs=1e-4)
    assert all(len(o.logprobs) == 12 for o in got)
    assert [o.finish_reason for o in got] == ["length"] * 4
    assert [o.num_prompt_tokens for o in got] == [len(i) for i in ids]


def test_prompt_logprobs_cross_once_and_stay_on_every_output(both):
    local, remote = both
    ids = remote.encode("The capital of France is Paris, the capital of Spain is")
    params = GenerationParams(max_tokens=5, ignore_eos=True, prompt_logprobs=2)
    got = list(remote.stream(ids, params))
    want = local.generate([ids], params)[0]
    assert len(got) >= 2 and all(o.prompt_logprobs == got[0].prompt_logprobs for o in got)
    entries = got[-1].prompt_logprobs
    assert entries[0] is None and want.prompt_logprobs[0] is None
    assert [(e.token_id, e.rank, [t for t, _ in e.top]) for e in entries[1:]] == [
        (e.token_id, e.rank, [t for t, _ in e.top]) for e in want.prompt_logprobs[1:]]
    assert [e.logprob for e in entries[1:]] == pytest.approx(
        [e.logprob for e in want.prompt_logprobs[1:]], abs=1e-4)


def test_the_stop_reason_crosses(both):
    local, remote = both
    ids = remote.encode("alpha beta gamma delta")
    params = GenerationParams(forced_tokens=tuple(ids), stop=("gamma",))
    got, want = remote.generate([[5]], params)[0], local.generate([[5]], params)[0]
    assert got.stop_reason == want.stop_reason == "gamma" and got.text == want.text


def test_embeddings_cross(both):
    local, remote = both
    ids = remote.encode("The capital of France is Paris")
    for pooling in (PoolingParams(), PoolingParams("MEAN", normalize=False)):
        params = GenerationParams(max_tokens=1, pooling=pooling)
        got, want = remote.generate([ids], params)[0], local.generate([ids], params)[0]
        assert got.embedding is not None and len(got.embedding) == len(want.embedding)
        assert got.embedding == pytest.approx(want.embedding, abs=1e-5)


def test_a_stream_carries_the_same_deltas_and_growing_token_lists(both):
    local, remote = both
    ids = remote.encode(PROMPTS[0])
    full = local.generate([ids], GenerationParams(max_tokens=12, ignore_eos=True))[0].text
    params = GenerationParams(max_tokens=12, ignore_eos=True, stop=(full[3:6],))
    got, want = list(remote.stream(ids, params)), list(local.stream(ids, params))
    assert [o.delta for o in got] == [o.delta for o in want]
    assert [len(o.token_ids) for o in got] == [len(o.token_ids) for o in want]
    assert got[-1].finish_reason == "stop" and got[-1].text == full[: full.index(full[3:6])]
    assert all(a.token_ids == b.token_ids[: len(a.token_ids)] for a, b in zip(got[:-1], got[1:], strict=True))
    # a step whose text ends with the start of a stop string holds that tail back from its
    # delta; the output's text still has it
    forced = tuple(remote.encode(" the capital of Italy is Rome"))
    held = GenerationParams(forced_tokens=forced, stop=("is Q",))
    got2, want2 = list(remote.stream(ids, held)), list(local.stream(ids, held))
    assert [o.text for o in got2] == [o.text for o in want2]
    assert [o.delta for o in got2] == [o.delta for o in want2]
    assert any(o.text != "".join(x.delta for x in got2[: i + 1]) for i, o in enumerate(got2))
    assert got2[-1].text == " the capital of Italy is Rome"


def test_tool_call_events_cross_in_the_step_of_their_token(both):
    local, remote = both
    call = '{"name": "search", "arguments": {"query": "weather in Paris"}}'
    other = call.replace("Paris", "Rome")
    pieces = ("Sure.\n", "<tool_call>", "\n" + call, "\n</tool_call>")  # fixed boundaries
    forced = tuple(t for piece in pieces for t in remote.encode(piece))
    scan = CallScan("tag", start_tag="<tool_call>", end_tag="</tool_call>")
    params = GenerationParams(forced_tokens=forced, call_scan=scan, call_candidates=(
        (1, tuple(remote.encode("\n" + call))), (2, tuple(remote.encode("\n" + other)))))

    def events(engine):
        return [(len(o.token_ids) - 1, o.call_events) for o in engine.stream("hi", params)
                if o.call_events]

    got = events(remote)
    assert got == events(local)
    kinds = [e.kind for _, step in got for e in step]
    assert kinds.count(CallEventKind.CALL_START) == 1
    assert kinds.count(CallEventKind.CALL_COMPLETE) == 1
    assert [e.candidate_id for _, step in got for e in step
            if e.kind == CallEventKind.CONFIRMED] == [1]


def test_session_turns_keep_their_kv_in_the_engine_process(both):
    _, remote = both
    convo = remote.encode("Hello there, agent! Look this up.")
    first = remote.submit_turn("s1", convo, GenerationParams(max_tokens=3, ignore_eos=True))
    out = first.result()
    assert out.num_cached_tokens == 0
    wait_for(lambda: remote.stats().num_parked == 1)
    second = remote.submit_turn("s1", convo + out.token_ids + [7, 8],
                                GenerationParams(max_tokens=2, ignore_eos=True)).result()
    assert second.num_cached_tokens == len(convo) + len(out.token_ids) - 1
    remote.end_session("s1")
    wait_for(lambda: remote.stats().num_parked == 0)
    assert remote.stats().num_used_blocks == 0


def test_bad_requests_fail_alone_with_the_same_typed_errors(both):
    _, remote = both
    bad = remote.submit([], GenerationParams(max_tokens=4))
    good = remote.submit(remote.encode("Hello"), GenerationParams(max_tokens=3, ignore_eos=True))
    with pytest.raises(InvalidArgumentError, match="no tokens"):
        bad.result()
    with pytest.raises(InvalidArgumentError, match=f"prompt token id {remote.vocab_size}"):
        remote.submit([1, remote.vocab_size], GenerationParams(max_tokens=2)).result()
    assert len(good.result().token_ids) == 3


def test_a_request_left_without_tokens_fails_with_the_same_typed_error(both):
    from paste.engine.penalties import NoTokenError

    eos = both[0].core.eos_ids[0]
    params = GenerationParams(max_tokens=4, allowed_token_ids=(eos,), min_tokens=2)
    errors = []
    for engine in both:
        with pytest.raises(NoTokenError) as err:
            engine.generate(["Hello"], params)
        errors.append((str(err.value), err.value.param))
    assert errors[0] == errors[1]
    assert errors[0][1] == "allowed_token_ids" and "output token 1" in errors[0][0]
    wait_for(lambda: both[1].stats().num_running == 0)
    assert both[1].stats().num_used_blocks == 0


def test_abort_ends_the_request_in_the_engine_process(both):
    _, remote = both
    handle = remote.submit(remote.encode("Hello"), GenerationParams(max_tokens=200,
                                                                   ignore_eos=True))
    first = next(iter(handle))
    assert not first.finished
    handle.abort()
    final = handle.result()
    assert final.finish_reason == "abort" and len(final.token_ids) < 200
    wait_for(lambda: remote.stats().num_running == 0)
    assert remote.stats().num_waiting == 0


def test_grammar_requests_equal_the_in_process_engine(both):
    local, remote = both
    schema = '{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}'
    params = GenerationParams(max_tokens=24, grammar=GrammarSpec(json_schema=schema))
    got, want = remote.generate(["Answer:"], params)[0], local.generate(["Answer:"], params)[0]
    assert got.token_ids == want.token_ids and got.text == want.text
    assert got.text.startswith("{")


def test_a_request_that_cannot_be_sent_fails_alone(both):
    _, remote = both

    class LocalInt(int):  # a local class: pickle cannot find it by name
        pass

    with pytest.raises(EngineProcessError, match="cannot be sent to the engine process"):
        remote.submit([1, 2, 3], GenerationParams(max_tokens=LocalInt(2)))
    assert remote._handles == {}
    assert len(remote.generate([[1, 2, 3]], GenerationParams(max_tokens=2,
                                                             ignore_eos=True))[0].token_ids) == 2


def test_an_error_that_cannot_be_pickled_crosses_as_its_type_and_message():
    class LocalError(RuntimeError):  # a local class: pickle cannot find it by name
        pass

    crossed = portable(LocalError("the tokenizer broke"))
    assert isinstance(crossed, EngineProcessError)
    assert str(crossed) == "LocalError: the tokenizer broke"
    plain = InvalidArgumentError("bad")
    assert portable(plain) is plain


def test_a_killed_engine_process_fails_every_waiter_and_every_later_call(tiny_folder):
    remote = ProcessEngine(str(tiny_folder), **SETTINGS)
    try:
        handle = remote.submit(remote.encode("Hello"), GenerationParams(max_tokens=900,
                                                                       ignore_eos=True))
        next(iter(handle))
        os.kill(remote.pid, signal.SIGKILL)
        with pytest.raises(EngineStoppedError, match=r"exited \(code -9\)"):
            handle.result()
        with pytest.raises(EngineStoppedError, match=r"exited \(code -9\)"):
            remote.submit("Hello")
        remote.end_session("s")  # nothing to free: no error
    finally:
        remote.shutdown()


def test_shutdown_fails_waiters_and_refuses_new_requests(tiny_folder):
    remote = ProcessEngine(str(tiny_folder), **SETTINGS)
    handle = remote.submit(remote.encode("Hello"), GenerationParams(max_tokens=900,
                                                                   ignore_eos=True))
    next(iter(handle))
    remote.shutdown()
    with pytest.raises(EngineStoppedError, match="shut down"):
        handle.result()
    with pytest.raises(EngineStoppedError, match="shut down"):
        remote.submit("Hello")
    assert remote._process.returncode == 0


def test_a_model_that_cannot_load_raises_its_error_in_the_caller(tiny_folder, tmp_path):
    with pytest.raises(InvalidArgumentError, match="unknown attention backend"):
        ProcessEngine(str(tiny_folder), **{**SETTINGS, "attention_backend": "nope"})


def test_a_server_on_the_process_engine_answers_and_reports_its_death(tiny_folder):
    import httpx

    from test_server_support import live_server

    remote = ProcessEngine(str(tiny_folder), **SETTINGS)
    try:
        with live_server(remote) as server:
            body = {"model": "tiny", "prompt": "Hello", "max_tokens": 3, "ignore_eos": True}
            done = httpx.post(server.url + "/v1/completions", json=body, timeout=60).json()
            assert done["usage"]["completion_tokens"] == 3
            assert httpx.get(server.url + "/health").json() == {"status": "ok", "model": "tiny"}
            os.kill(remote.pid, signal.SIGKILL)
            wait_for(lambda: remote.failure is not None)
            health = httpx.get(server.url + "/health")
            assert health.status_code == 503
            assert health.json() == {"status": "error", "model": "tiny",
                                     "error": "the engine process exited (code -9)"}
            failed = httpx.post(server.url + "/v1/completions", json=body, timeout=60)
            assert failed.status_code == 503
            assert "the engine process exited (code -9)" in failed.json()["error"]["message"]
    finally:
        remote.shutdown()


def test_failure_is_none_while_an_engine_serves_and_says_why_after(tiny_folder):
    local = Engine(str(tiny_folder), **SETTINGS)
    assert local.failure is None
    local.shutdown()
    assert local.failure == "the engine is shut down"
    remote = ProcessEngine(str(tiny_folder), **SETTINGS)
    assert remote.failure is None
    remote.shutdown()
    assert remote.failure == "the engine is shut down"


def test_an_agent_session_runs_its_tool_loop_on_the_process_engine(tmp_path_factory):
    from paste.session import open_session
    from paste.tools import ToolRegistry
    from test_session_support import FakeScriptedPolicy, call_text, shared_tiny_folder

    registry = ToolRegistry()

    @registry.tool(effect="read_only")
    def lookup(city: str) -> str:
        """Weather of a city.

        Args:
            city: the city
        """
        return f"{city}: 22 C"

    folder = shared_tiny_folder(tmp_path_factory)
    remote = ProcessEngine(str(folder), block_size=4, num_blocks=2048, num_threads=1,
                           attention_backend="torch")
    try:
        policy = FakeScriptedPolicy(remote, [call_text("lookup", city="Paris"), "It is 22 C."])
        with open_session(remote, tools=registry, turn_params=policy) as session:
            result = session.run("Weather in Paris?")
            assert result.final_text == "It is 22 C."
            assert [m["role"] for m in result.messages] == ["user", "assistant", "tool",
                                                            "assistant"]
            assert result.messages[2]["content"] == "Paris: 22 C"
            turns = session.metrics()["turns"]
            first = turns[0]["num_prompt_tokens"] + turns[0]["num_output_tokens"]
            # the first turn's KV stayed parked in the engine process: all of it is reused
            assert [t["num_cached_tokens"] for t in turns] == [0, first - 1]
    finally:
        remote.shutdown()
    registry.close()
