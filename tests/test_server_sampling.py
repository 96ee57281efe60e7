"""/v1/chat/completions sampling fields through the real openai client: penalties, logit_bias
and vLLM's extra fields reach the engine exactly, change what the real tiny model writes, and
bad values are 400s naming their field."""

from __future__ import annotations

import pytest

USER = [{"role": "user", "content": "Say something."}]


def test_fields_reach_the_engine_exactly(engine, client):
    client.chat.completions.create(
        model="tiny", messages=USER, max_tokens=6, presence_penalty=0.5,
        frequency_penalty=-1.5, logit_bias={"7": 3, "11": -100},
        extra_body={"top_k": 5, "min_p": 0.25, "repetition_penalty": 1.3, "min_tokens": 2})
    params = engine.params[-1]
    assert (params.presence_penalty, params.frequency_penalty) == (0.5, -1.5)
    assert params.logit_bias == ((7, 3.0), (11, -100.0))
    assert (params.top_k, params.min_p, params.repetition_penalty, params.min_tokens) == \
        (5, 0.25, 1.3, 2)
    client.chat.completions.create(model="tiny", messages=USER, max_tokens=2)
    plain = engine.params[-1]
    assert (plain.presence_penalty, plain.frequency_penalty, plain.logit_bias, plain.top_k,
            plain.min_p, plain.repetition_penalty, plain.min_tokens) == \
        (0.0, 0.0, (), 0, 0.0, 1.0, 0)


def test_logit_bias_decides_what_the_real_model_writes(engine, client):
    token = engine.encode(" blue")[0]
    out = client.chat.completions.create(model="tiny", messages=USER, temperature=0,
                                         max_tokens=3, logit_bias={str(token): 100})
    assert out.choices[0].message.content == engine.tokenizer.decode([token] * 3)
    assert out.choices[0].finish_reason == "length" and out.usage.completion_tokens == 3


def test_min_tokens_holds_back_the_end_of_turn(engine, client):
    eos = str(engine.tokenizer.eos_token_id)
    ends = client.chat.completions.create(model="tiny", messages=USER, temperature=0,
                                          max_tokens=8, logit_bias={eos: 100})
    assert ends.usage.completion_tokens == 1 and ends.choices[0].message.content == ""
    held = client.chat.completions.create(model="tiny", messages=USER, temperature=0,
                                          max_tokens=8, logit_bias={eos: 100},
                                          extra_body={"min_tokens": 4})
    assert held.usage.completion_tokens == 5 and held.choices[0].finish_reason == "stop"


def test_ignore_eos_writes_max_tokens(engine, client):
    eos = str(engine.tokenizer.eos_token_id)
    out = client.chat.completions.create(model="tiny", messages=USER, temperature=0,
                                         max_tokens=7, logit_bias={eos: 100},
                                         extra_body={"ignore_eos": True})
    assert out.usage.completion_tokens == 7 and out.choices[0].finish_reason == "length"
    legacy = client.completions.create(model="tiny", prompt="Hi", temperature=0, max_tokens=5,
                                       logit_bias={eos: 100}, extra_body={"ignore_eos": True})
    assert legacy.usage.completion_tokens == 5


def test_stop_token_ids_end_the_turn_without_their_text(engine, client):
    token = engine.encode(" blue")[0]
    kwargs = dict(model="tiny", messages=USER, temperature=0, max_tokens=8,
                  logit_bias={str(token): 100})
    out = client.chat.completions.create(**kwargs, extra_body={"stop_token_ids": [token]})
    assert out.usage.completion_tokens == 1 and out.choices[0].finish_reason == "stop"
    assert out.choices[0].message.content == ""
    kept = client.chat.completions.create(**kwargs, extra_body={
        "stop_token_ids": [token], "include_stop_str_in_output": True})
    assert kept.choices[0].message.content == engine.tokenizer.decode([token])
    assert engine.params[-1].stop_token_ids == (token,)
    assert engine.params[-1].include_stop_str_in_output is True


def test_allowed_token_ids_and_bad_words_decide_what_the_real_model_writes(engine, client):
    blue, red = engine.encode(" blue")[0], engine.encode(" red")[0]
    kwargs = dict(model="tiny", messages=USER, temperature=0, max_tokens=3,
                  logit_bias={str(blue): 100})
    out = client.chat.completions.create(**kwargs, extra_body={"allowed_token_ids": [red]})
    assert out.choices[0].message.content == engine.tokenizer.decode([red] * 3)
    assert engine.params[-1].allowed_token_ids == (red,)
    search = engine.encode(" search")
    assert len(search) == 1  # one token: banned wherever it would be written
    lifted = dict(kwargs, logit_bias={str(search[0]): 100})
    assert client.chat.completions.create(**lifted).choices[0].message.content == \
        " search" * 3
    out = client.chat.completions.create(**lifted, extra_body={"bad_words": ["search"]})
    assert "search" not in out.choices[0].message.content
    assert engine.params[-1].bad_words == ("search",)
    done = client.completions.create(model="tiny", prompt="Say", temperature=0, max_tokens=3,
                                     logit_bias={str(blue): 100},
                                     extra_body={"allowed_token_ids": [red, red]})
    assert done.choices[0].text == engine.tokenizer.decode([red] * 3)
    assert engine.params[-1].allowed_token_ids == (red,)  # repeated ids once


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"frequency_penalty": "high"}, "frequency_penalty"),
        ({"logit_bias": {"abc": 1}}, "logit_bias"),
        ({"logit_bias": {"-3": 1}}, "logit_bias"),
        ({"logit_bias": {"5": 101}}, "logit_bias"),
        ({"logit_bias": {"5": True}}, "logit_bias"),
        ({"logit_bias": [5]}, "logit_bias"),
        ({"logit_bias": {"99999999": 1}}, "logit_bias"),  # beyond the model's vocabulary
        ({"extra_body": {"repetition_penalty": 0}}, "repetition_penalty"),
        ({"extra_body": {"top_k": -2}}, "top_k"),
        ({"extra_body": {"min_p": 1.5}}, "min_p"),
        ({"extra_body": {"min_tokens": 9}}, "min_tokens"),  # above max_tokens 8
        ({"extra_body": {"min_tokens": 1}, "response_format": {"type": "json_object"}},
         "min_tokens"),
        ({"extra_body": {"functions": [{"name": "f", "parameters": {}}]}}, "functions"),
        ({"extra_body": {"function_call": "auto"}}, "function_call"),
        ({"extra_body": {"stop_token_ids": "5"}}, "stop_token_ids"),
        ({"extra_body": {"stop_token_ids": [-1]}}, "stop_token_ids"),
        ({"extra_body": {"stop_token_ids": [True]}}, "stop_token_ids"),
        ({"extra_body": {"stop_token_ids": list(range(65))}}, "stop_token_ids"),
        ({"extra_body": {"ignore_eos": "yes"}}, "ignore_eos"),
        ({"extra_body": {"ignore_eos": True}, "response_format": {"type": "json_object"}},
         "ignore_eos"),
        ({"extra_body": {"include_stop_str_in_output": 1}}, "include_stop_str_in_output"),
        ({"extra_body": {"allowed_token_ids": []}}, "allowed_token_ids"),
        ({"extra_body": {"allowed_token_ids": [1, -1]}}, "allowed_token_ids"),
        ({"extra_body": {"allowed_token_ids": "1"}}, "allowed_token_ids"),
        ({"extra_body": {"allowed_token_ids": [99999999]}}, "allowed_token_ids"),  # vocabulary
        ({"extra_body": {"bad_words": "blue"}}, "bad_words"),
        ({"extra_body": {"bad_words": ["blue", " "]}}, "bad_words"),
        ({"extra_body": {"bad_words": [3]}}, "bad_words"),
        ({"extra_body": {"min_tokens": 1}, "tool_choice": "required", "tools": [{
            "type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
         "min_tokens"),
    ],
)
def test_bad_values_are_400_naming_the_field(client, kwargs, param):
    import openai

    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="tiny", messages=USER, max_tokens=8, **kwargs)
    assert err.value.body["param"] == param


def test_constraints_that_leave_no_token_are_a_400_naming_the_field(engine, client):
    """allowed_token_ids of "{" only under json_object: "{" is written, then nothing is
    possible. A whole answer is a 400; a stream, once started, ends with an error event."""
    import openai

    brace = engine.encode("{")
    assert len(brace) == 1
    kwargs = dict(model="tiny", messages=USER, temperature=0, max_tokens=8,
                  response_format={"type": "json_object"},
                  extra_body={"allowed_token_ids": brace})
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(**kwargs)
    assert err.value.body["param"] == "allowed_token_ids"
    assert err.value.body["message"].startswith(
        "no token is left to sample at output token 2: allowed_token_ids and the response "
        "format or tool grammar exclude every token")
    eos = engine.tokenizer.eos_token_id
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="tiny", prompt="Hi", max_tokens=4,
                                  extra_body={"allowed_token_ids": [eos], "min_tokens": 2})
    assert err.value.body["param"] == "allowed_token_ids"
    assert "output token 1: allowed_token_ids and min_tokens" in err.value.body["message"]
    text = []
    with pytest.raises(openai.APIError, match="no token is left to sample at output token 2") \
            as streamed:
        for chunk in client.chat.completions.create(**kwargs, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
    assert "".join(text) == "{" and streamed.value.body["param"] == "allowed_token_ids"
    ok = client.chat.completions.create(model="tiny", messages=USER, max_tokens=2)
    assert ok.usage.completion_tokens >= 1
