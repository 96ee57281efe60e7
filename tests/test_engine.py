"""The engine end to end on a random tiny model: continuous batching, paged KV, prefix caching,
preemption and stop conditions must not change what greedy decoding produces, which is checked
token for token against transformers' own generate() on the same weights."""

from __future__ import annotations

import pytest
import torch

from paste.engine.engine import Engine
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from tiny_model import build_tiny_model

PROMPTS = ["The capital of France", "def add(a, b):", "Hello there! How can I", "tool results: 42"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")


@pytest.fixture(scope="module")
def engine(tiny_folder):
    eng = Engine(str(tiny_folder), attention_backend="torch", block_size=4, num_blocks=256,
                 max_num_batched_tokens=64, num_threads=1)
    yield eng
    eng.shutdown()


def hf_greedy(folder, prompt_ids, max_new):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), torch_dtype=torch.float32).eval()
    out = []
    for ids in prompt_ids:
        gen = model.generate(torch.tensor([ids]), max_new_tokens=max_new, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
        out.append(gen[0, len(ids):].tolist())
    return out


def test_batched_greedy_matches_transformers_token_for_token(engine, tiny_folder):
    ids = [engine.encode(p) for p in PROMPTS]
    outs = engine.generate(ids, GenerationParams(max_tokens=12, ignore_eos=True))
    assert [o.token_ids for o in outs] == hf_greedy(tiny_folder, ids, 12)
    assert all(o.finish_reason == "length" and len(o.token_ids) == 12 for o in outs)


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
def test_other_families_match_transformers_token_for_token(tmp_path, arch):
    folder = build_tiny_model(tmp_path / arch, arch)
    eng = Engine(str(folder), attention_backend="cpu", block_size=4, num_blocks=128,
                 max_num_batched_tokens=16, num_threads=1)  # prompts prefilled in chunks
    try:
        ids = [eng.encode(p) for p in PROMPTS]
        outs = eng.generate(ids, GenerationParams(max_tokens=10, ignore_eos=True))
        assert [o.token_ids for o in outs] == hf_greedy(folder, ids, 10)
    finally:
        eng.shutdown()


def test_prefix_cache_reuses_kv_and_changes_nothing(engine):
    prompt = engine.encode("Hello there! How can I help you today? I can search, read files")
    first = engine.generate([prompt], GenerationParams(max_tokens=6, ignore_eos=True))[0]
    second = engine.generate([prompt], GenerationParams(max_tokens=6, ignore_eos=True))[0]
    assert second.token_ids == first.token_ids
    assert second.num_cached_tokens == (len(prompt) - 1) // 4 * 4
    assert second.num_cached_tokens > 0


def test_preemption_under_a_tiny_kv_pool_keeps_outputs(tiny_folder, engine):
    ids = [engine.encode(p) for p in PROMPTS]
    expected = [o.token_ids for o in engine.generate(ids, GenerationParams(max_tokens=16,
                                                                          ignore_eos=True))]
    small = Engine(str(tiny_folder), attention_backend="torch", block_size=4, num_blocks=14,
                   max_num_batched_tokens=16, max_model_len=48, num_threads=1)
    try:
        outs = small.generate(ids, GenerationParams(max_tokens=16, ignore_eos=True))
        assert [o.token_ids for o in outs] == expected
        assert small.core.loop.stats.num_preemptions > 0
    finally:
        small.shutdown()


def test_stop_string_cuts_and_stream_never_retracts(engine):
    ids = engine.encode(PROMPTS[0])
    full = engine.generate([ids], GenerationParams(max_tokens=12, ignore_eos=True))[0].text
    assert len(full) > 6
    stop = full[3:6]
    chunks = [o.delta for o in engine.stream(ids, GenerationParams(max_tokens=12,
                                                                    ignore_eos=True,
                                                                    stop=(stop,)))]
    text = "".join(chunks)
    assert text == full[: full.index(stop)]
    with_stop = engine.generate([ids], GenerationParams(max_tokens=12, ignore_eos=True,
                                                        stop=(stop,),
                                                        include_stop_str_in_output=True))[0]
    assert with_stop.text == full[: full.index(stop) + len(stop)]
    assert with_stop.finish_reason == "stop"


def test_bad_requests_fail_alone_with_typed_errors(engine):
    bad = engine.submit([], GenerationParams(max_tokens=4))
    good = engine.submit(engine.encode("Hello"), GenerationParams(max_tokens=3, ignore_eos=True))
    with pytest.raises(InvalidArgumentError, match="no tokens"):
        bad.result()
    assert len(good.result().token_ids) == 3
    too_long = engine.submit([5] * 600, GenerationParams(max_tokens=2))
    with pytest.raises(InvalidArgumentError, match="max_model_len"):
        too_long.result()
    with pytest.raises(InvalidArgumentError):
        GenerationParams(max_tokens=0)


def test_abort_frees_the_sequence(engine):
    handle = engine.submit(engine.encode("Hello"), GenerationParams(max_tokens=200,
                                                                   ignore_eos=True))
    first = next(iter(handle))
    assert not first.finished
    handle.abort()
    final = handle.result()
    assert final.finish_reason == "abort"
    after = engine.generate([engine.encode("Hi")], GenerationParams(max_tokens=2,
                                                                   ignore_eos=True))[0]
    assert len(after.token_ids) == 2
    assert engine.core.loop.num_running == 0 and engine.core.loop.num_waiting == 0


def test_forced_tokens_decode_exactly_the_given_tokens(engine):
    forced = tuple(engine.encode(" the capital of Italy is Rome"))
    out = engine.generate([engine.encode(PROMPTS[0])],
                          GenerationParams(forced_tokens=forced, ignore_eos=True))[0]
    assert tuple(out.token_ids) == forced
    assert out.text == " the capital of Italy is Rome"
    assert out.finish_reason == "length"


def test_session_turns_reuse_retained_kv(engine):
    tok = engine.tokenizer
    convo = engine.chat_prompt([{"role": "user", "content": "Hello there!"}])
    reply = tuple(engine.encode("Hi! How can I help?")) + (tok.eos_token_id,)
    first = engine.submit_turn("s1", convo, GenerationParams(forced_tokens=reply)).result()
    assert first.num_cached_tokens == 0 and first.finish_reason == "stop"
    info = engine.core.loop.seq_info(engine.core.sessions["s1"])
    assert info.status.name == "PARKED" and info.num_computed_tokens == len(convo) + len(reply) - 1
    convo2 = convo + list(reply) + engine.encode("\n<|im_start|>tool\n42<|im_end|>\n"
                                                 "<|im_start|>assistant\n")
    second = engine.submit_turn("s1", convo2, GenerationParams(max_tokens=3, ignore_eos=True))
    out = second.result()
    assert out.num_cached_tokens == len(convo) + len(reply) - 1  # only new tokens prefilled
    assert len(out.token_ids) == 3
    # A conversation that does not extend the parked one starts over (prefix cache may help).
    other = engine.submit_turn("s1", engine.encode("unrelated"), GenerationParams(max_tokens=2))
    assert len(other.result().token_ids) <= 2
    engine.end_session("s1")
    engine.generate(["x"], GenerationParams(max_tokens=1))  # a step boundary after the end
    assert "s1" not in engine.core.sessions
    assert engine.core.loop.num_parked == 0


def test_generation_params_reject_bad_values():
    with pytest.raises(InvalidArgumentError, match="stop strings"):
        GenerationParams(stop=("",))
    with pytest.raises(InvalidArgumentError, match="forced_tokens"):
        GenerationParams(forced_tokens=(1, -1))


def test_out_of_range_values_fail_the_request_not_the_engine(engine):
    with pytest.raises(InvalidArgumentError, match="max_tokens"):
        GenerationParams(max_tokens=10**12)
    with pytest.raises(InvalidArgumentError, match="seed"):
        GenerationParams(seed=2**64)
    bad = engine.submit([2**40], GenerationParams(max_tokens=2))  # not a valid token id
    with pytest.raises(InvalidArgumentError):
        bad.result()
    ok = engine.generate(["Hello"], GenerationParams(max_tokens=2, ignore_eos=True))[0]
    assert len(ok.token_ids) == 2  # the engine thread survived


def test_token_ids_outside_the_vocabulary_fail_the_request_not_the_batch(engine):
    vocab = engine.core.runner.vocab_size
    good = engine.submit(engine.encode("Hello"), GenerationParams(max_tokens=12,
                                                                  ignore_eos=True))
    bad_prompt = engine.submit([1, vocab], GenerationParams(max_tokens=2))
    bad_forced = engine.submit([1, 2], GenerationParams(forced_tokens=(3, vocab + 5)))
    with pytest.raises(InvalidArgumentError, match=f"prompt token id {vocab} is outside"):
        bad_prompt.result()
    with pytest.raises(InvalidArgumentError, match=f"forced token id {vocab + 5} is outside"):
        bad_forced.result()
    convo = engine.encode("Hi there")
    first = engine.submit_turn("v", convo, GenerationParams(max_tokens=1, ignore_eos=True))
    extended = convo + first.result().token_ids + [7, vocab + 1]  # resumes the parked turn
    with pytest.raises(InvalidArgumentError, match=f"conversation token id {vocab + 1}"):
        engine.submit_turn("v", extended, GenerationParams(max_tokens=1)).result()
    with pytest.raises(InvalidArgumentError, match=f"prompt token id {vocab + 1}"):
        engine.submit_turn("v", [9, vocab + 1], GenerationParams(max_tokens=1)).result()
    assert len(good.result().token_ids) == 12  # the batch it shared steps with was unharmed
    engine.end_session("v")


class FakeFailingForward:
    """Stands in for ModelRunner.forward: raises on its first call, then runs the real one."""

    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, plan):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("device lost")
        return self.real(plan)


def test_a_failing_model_step_fails_its_requests_and_the_engine_lives_on(engine, monkeypatch):
    fake = FakeFailingForward(engine.core.runner.forward)
    monkeypatch.setattr(engine.core.runner, "forward", fake)
    doomed = engine.submit(engine.encode("Hello"), GenerationParams(max_tokens=4,
                                                                    ignore_eos=True))
    with pytest.raises(RuntimeError, match="device lost"):
        doomed.result()
    assert not engine.core.loop.step_in_flight
    after = engine.generate([engine.encode("Hello")], GenerationParams(max_tokens=3,
                                                                       ignore_eos=True))[0]
    assert len(after.token_ids) == 3 and fake.calls >= 2
    assert engine.core.loop.num_running == 0 and engine.core.loop.num_waiting == 0
    assert engine.core.requests == {}


def test_outputs_carry_ttft_and_time_per_output_token(engine):
    import time

    started = time.perf_counter()
    five = engine.generate([[1, 2, 3]], GenerationParams(max_tokens=5, ignore_eos=True))[0]
    wall = time.perf_counter() - started
    one = engine.generate([[1, 2, 3]], GenerationParams(max_tokens=1, ignore_eos=True))[0]
    assert sorted(five.metrics) == ["tpot_s", "ttft_s"] and sorted(one.metrics) == ["ttft_s"]
    assert 0.0 < five.metrics["ttft_s"] + 4 * five.metrics["tpot_s"] <= wall


def test_sessions_parked_too_long_are_ended(tiny_folder):
    import time

    params = GenerationParams(max_tokens=2, ignore_eos=True)
    with Engine(str(tiny_folder), block_size=4, num_blocks=64, num_threads=1,
                attention_backend="torch", session_idle_s=1.5) as eng:
        eng.submit_turn("left", [1, 2, 3], params).result()
        kept = eng.submit_turn("kept", [4, 5, 6], params).result()
        assert set(eng.core.sessions) == {"left", "kept"} and eng.core.loop.num_parked == 2
        time.sleep(0.8)
        kept = eng.submit_turn("kept", [4, 5, 6, *kept.token_ids, 7], params).result()
        time.sleep(1.0)  # "left" idle 1.8 s, "kept" 1.0 s; the sweep runs at most once a second
        eng.generate([[8, 9]], GenerationParams(max_tokens=1))  # a step: the sweep
        assert set(eng.core.sessions) == {"kept"} and eng.core.loop.num_parked == 1
    with pytest.raises(InvalidArgumentError, match="session_idle_s must be > 0"):
        Engine(str(tiny_folder), session_idle_s=0.0)


def test_the_engine_thread_builds_the_core_and_its_errors_reach_the_caller(tiny_folder,
                                                                          monkeypatch):
    import threading

    from paste.engine.attention import UnknownAttentionBackendError

    def engine_threads():
        return sum(t.name == "paste-engine" for t in threading.enumerate())

    before = engine_threads()  # other tests' engines may be running
    with pytest.raises(UnknownAttentionBackendError, match="unknown attention backend 'nope'"):
        Engine(str(tiny_folder), attention_backend="nope", num_threads=1)
    assert engine_threads() == before  # the failed engine's thread ended
    built = []
    original = Engine._main

    def record(self, folder, ready):
        built.append(threading.current_thread().name)
        original(self, folder, ready)

    monkeypatch.setattr(Engine, "_main", record)  # the same method, noting its thread
    with Engine(str(tiny_folder), attention_backend="torch", num_threads=1) as eng:
        assert len(eng.generate([[1, 2]], GenerationParams(max_tokens=2,
                                                           ignore_eos=True))[0].token_ids) == 2
    assert built == ["paste-engine"]


def test_a_resumed_session_turn_stops_by_its_own_stop_tokens(engine):
    first = engine.submit_turn("own-stops", [1, 2, 3],
                               GenerationParams(max_tokens=2, ignore_eos=True)).result()
    convo = [1, 2, 3, *first.token_ids, 4]
    lifted = GenerationParams(max_tokens=6, logit_bias=((7, 100.0),), stop_token_ids=(7,))
    out = engine.submit_turn("own-stops", convo, lifted).result()
    assert out.num_cached_tokens > 0  # it resumed the parked sequence
    assert (out.token_ids, out.finish_reason) == ([7], "stop")  # before: 6 x 7, "length"
    engine.end_session("own-stops")
