"""/v1/completions (legacy text completions) through the real openai client on the real tiny
model: the raw prompt without a chat template, batches of prompts x n choices, echo, logprobs,
streamed chunks that reassemble to the whole answer, and 400s naming their field."""

from __future__ import annotations

import pytest

from paste.engine.request import GenerationParams

PROMPT = "The capital of France is"


def ids_of(engine, text):
    return list(engine.tokenizer.encode(text, add_special_tokens=True))


def test_greedy_text_is_the_engines_own_on_the_raw_prompt(engine, client):
    out = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=5, temperature=0)
    ids = ids_of(engine, PROMPT)
    own = engine.generate([ids], GenerationParams(max_tokens=5, temperature=0.0))[0]
    assert out.object == "text_completion" and len(out.choices) == 1
    assert out.choices[0].text == own.text and out.choices[0].index == 0
    assert out.choices[0].finish_reason == {"length": "length", "stop": "stop"}[own.finish_reason]
    assert out.usage.prompt_tokens == len(ids)
    assert out.usage.completion_tokens == len(own.token_ids)
    assert out.choices[0].logprobs is None


def test_default_max_tokens_is_sixteen(engine, client):
    eos = str(engine.tokenizer.eos_token_id)
    out = client.completions.create(model="tiny", prompt=PROMPT, temperature=0,
                                    logit_bias={eos: -100})
    assert out.usage.completion_tokens == 16 and out.choices[0].finish_reason == "length"


def test_prompts_times_n_choices_with_the_prompt_counted_once(client):
    out = client.completions.create(model="tiny", prompt=[[1, 2, 3], [4, 5]], n=2,
                                    max_tokens=4, temperature=0)
    assert [c.index for c in out.choices] == [0, 1, 2, 3]
    texts = [c.text for c in out.choices]
    assert texts[0] == texts[1] and texts[2] == texts[3]  # greedy: a prompt's choices agree
    alone = client.completions.create(model="tiny", prompt=[4, 5], max_tokens=4, temperature=0)
    assert texts[2] == alone.choices[0].text
    assert out.usage.prompt_tokens == 5
    assert out.usage.completion_tokens == sum(
        len(client.completions.create(model="tiny", prompt=p, max_tokens=4, temperature=0,
                                      logprobs=0).choices[0].logprobs.tokens)
        for p in ([1, 2, 3], [4, 5])) * 2


def test_echo_puts_the_prompt_before_the_text(engine, client):
    plain = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=3, temperature=0)
    echoed = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=3,
                                       temperature=0, echo=True)
    assert echoed.choices[0].text == PROMPT + plain.choices[0].text
    ids = [5, 6, 7]
    by_ids = client.completions.create(model="tiny", prompt=ids, max_tokens=1, echo=True,
                                       temperature=0)
    assert by_ids.choices[0].text.startswith(engine.tokenizer.decode(ids))


def test_logprobs_tokens_offsets_and_alternatives(client):
    out = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=6, temperature=0,
                                    logprobs=2)
    lp = out.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) \
        == len(lp.text_offset) == out.usage.completion_tokens
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    assert "".join(lp.tokens).startswith(out.choices[0].text)
    for logprob, top in zip(lp.token_logprobs, lp.top_logprobs, strict=True):
        assert 1 <= len(top) <= 2 and logprob <= 0.0
        assert max(top.values()) == pytest.approx(logprob)  # greedy: the top token is chosen


def test_streamed_choices_reassemble_to_the_whole_answer(client):
    kwargs = dict(model="tiny", prompt=[PROMPT, "Once upon a time"], n=2, seed=11,
                  temperature=1.0, max_tokens=6, echo=True)
    whole = client.completions.create(**kwargs)
    texts, finishes, usage = {}, {}, None
    for chunk in client.completions.create(**kwargs, stream=True,
                                           stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {c.index: c.text for c in whole.choices}
    assert finishes == {c.index: c.finish_reason for c in whole.choices}
    assert usage.completion_tokens == whole.usage.completion_tokens
    assert usage.prompt_tokens == whole.usage.prompt_tokens


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"prompt": PROMPT, "suffix": "end"}, "suffix"),
        ({"prompt": PROMPT, "best_of": 3}, "best_of"),
        ({"prompt": PROMPT, "logprobs": 21}, "logprobs"),
        ({"prompt": 123}, "prompt"),
        ({"prompt": []}, "prompt"),
        ({"prompt": [[]]}, "prompt"),
        ({"prompt": [1, "a"]}, "prompt"),
        ({"prompt": [[1], "a"]}, "prompt"),
        ({"prompt": [1, 99999999]}, "prompt"),  # outside the vocabulary
        ({"prompt": [-5]}, "prompt"),  # a negative id (was a 500: the echo text's decode)
        ({"prompt": [[1], [2, -1]], "echo": True}, "prompt"),
        ({"prompt": [5] * 40000}, "prompt"),  # longer than the context
        ({"prompt": ["a", "b", "c"], "n": 50}, "n"),  # 150 choices
        ({"prompt": PROMPT, "presence_penalty": 3}, "presence_penalty"),
    ],
)
def test_bad_requests_are_400_naming_the_field(client, kwargs, param):
    import openai

    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="tiny", max_tokens=2, **kwargs)
    assert err.value.body["param"] == param


def test_prompt_ids_outside_the_vocabulary_name_the_id(client, engine):
    import openai

    vocab = engine.info.vocab_size
    for ids, bad in (([3, -5], -5), ([[1], [vocab]], vocab)):
        with pytest.raises(openai.BadRequestError) as err:
            client.completions.create(model="tiny", max_tokens=2, prompt=ids)
        assert err.value.body["message"] == (
            f"'prompt' token id {bad} is outside the vocabulary [0, {vocab})")
