"""/v1/responses through the real openai client: text, function calls (streamed events and
their order), function_call / function_call_output input items, instructions."""

from __future__ import annotations

import json

import pytest

from test_server_support import always

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather of a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CALL_TEXT = '{"name": "get_weather", "arguments": {"city": "Paris"}}'


def test_text_response_with_instructions(engine, client):
    with engine.scripted(always("Hello there!")):
        resp = client.responses.create(model="tiny", input="Hi!", instructions="Be brief.")
    assert resp.status == "completed" and resp.object == "response"
    assert resp.output_text == "Hello there!"
    assert [(i.type, i.role, i.status) for i in resp.output] == [
        ("message", "assistant", "completed")]
    assert engine.prompts[-1].startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n")
    prompt_ids = engine.chat_prompt([{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "Hi!"}])
    assert resp.usage.input_tokens == len(prompt_ids)
    assert resp.usage.output_tokens == len(engine.encode("Hello there!")) + 1
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens


def test_function_call_whole_and_streamed_events(engine, client):
    with engine.scripted(always("Let me check.\n" + CALL_TEXT)):
        whole = client.responses.create(model="tiny", input="Weather in Paris?", tools=[WEATHER])
        events = list(client.responses.create(model="tiny", input="Weather in Paris?",
                                              tools=[WEATHER], stream=True))
    assert [(i.type, getattr(i, "name", None)) for i in whole.output] == [
        ("message", None), ("function_call", "get_weather")]
    assert whole.output[0].content[0].text == "Let me check."
    call = whole.output[1]
    assert json.loads(call.arguments) == {"city": "Paris"} and call.call_id.startswith("call_")
    kinds = [e.type for e in events]
    assert kinds[:5] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added",
                         "response.output_text.delta"]
    tail = kinds[kinds.index("response.output_text.done"):]
    assert tail == ["response.output_text.done", "response.content_part.done",
                    "response.output_item.done", "response.output_item.added",
                    "response.function_call_arguments.delta",
                    "response.function_call_arguments.done", "response.output_item.done",
                    "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    arguments = "".join(e.delta for e in events
                        if e.type == "response.function_call_arguments.delta")
    assert text == "Let me check." and json.loads(arguments) == {"city": "Paris"}
    final = events[-1].response
    assert [(i.type, getattr(i, "name", None)) for i in final.output] == [
        ("message", None), ("function_call", "get_weather")]
    assert final.output[1].arguments == arguments
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_function_call_output_items_continue_the_conversation(engine, client):
    items = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_7", "name": "get_weather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_7", "output": "22 C"},
    ]
    with engine.scripted(always("It is 22 C.")):
        resp = client.responses.create(model="tiny", input=items, tools=[WEATHER])
    assert resp.output_text == "It is 22 C."
    prompt = engine.prompts[-1]
    assert "<|im_start|>assistant\n" + CALL_TEXT + "<|im_end|>" in prompt
    assert "<|im_start|>tool\n22 C<|im_end|>" in prompt


def test_max_output_tokens_makes_the_response_incomplete(engine, client):
    with engine.scripted(always("Hello there! How can I help you today?")):
        resp = client.responses.create(model="tiny", input="Hi", max_output_tokens=2)
        events = list(client.responses.create(model="tiny", input="Hi", max_output_tokens=2,
                                              stream=True))
    assert resp.status == "incomplete" and resp.incomplete_details.reason == "max_output_tokens"
    assert resp.usage.output_tokens == 2
    assert events[-1].type == "response.incomplete"


def test_text_format_json_schema_constrains_the_output_and_is_echoed(engine, client):
    import openai

    schema = {"type": "object", "properties": {"ok": {"type": "boolean"},
              "n": {"enum": [1, 2, 3]}}, "required": ["ok", "n"]}
    fmt = {"type": "json_schema", "name": "r", "schema": schema}
    resp = client.responses.create(model="tiny", input="Hi", temperature=1.0, max_output_tokens=40,
                                   text={"format": fmt})
    value = json.loads(resp.output_text)
    assert sorted(value) == ["n", "ok"] and value["n"] in (1, 2, 3)
    assert resp.text.format.type == "json_schema" and resp.text.format.name == "r"
    assert json.loads(engine.params[-1].grammar.json_schema) == schema
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="tiny", input="Hi",
                                text={"format": {"type": "json_schema", "name": "r", "schema": 3}})
    assert info.value.body["param"] == "text.format.schema"
    unbuildable = {"type": "json_schema", "name": "r", "schema": {
        "type": "object", "properties": {"a": {"$ref": "#/nope"}}}}
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="tiny", input="Hi", text={"format": unbuildable})
    assert info.value.body["param"] == "text.format"
    assert "cannot build a grammar" in info.value.body["message"]


LOGPROBS = ["message.output_text.logprobs"]


def delta_logprobs(events):
    """[(token, logprob)] of a stream's response.output_text.delta events, in order."""
    return [(e.token, e.logprob) for ev in events if ev.type == "response.output_text.delta"
            for e in ev.logprobs]


def test_logprobs_one_per_completion_token_whole_and_streamed(engine, client):
    with engine.scripted(always("Hello there!")):
        whole = client.responses.create(model="tiny", input="Hi", include=LOGPROBS,
                                        top_logprobs=2)
        asked = engine.params[-1].logprobs
        events = list(client.responses.create(model="tiny", input="Hi", include=LOGPROBS,
                                              top_logprobs=2, stream=True))
    assert asked == 2 and whole.top_logprobs == 2
    part = whole.output[0].content[0]
    assert len(part.logprobs) == whole.usage.output_tokens
    eos = engine.tokenizer.decode([engine.tokenizer.eos_token_id], skip_special_tokens=False)
    assert "".join(e.token for e in part.logprobs) == "Hello there!" + eos
    for e in part.logprobs:
        assert e.logprob <= 0.0 and e.bytes == list(e.token.encode("utf-8"))
        tops = [t.logprob for t in e.top_logprobs]
        assert len(tops) == 2 and tops == sorted(tops, reverse=True) and e.logprob <= tops[0]
        assert all(t.bytes == list(t.token.encode("utf-8")) for t in e.top_logprobs)
    expected = [(e.token, e.logprob) for e in part.logprobs]
    assert delta_logprobs(events) == expected
    deltas = [ev for ev in events if ev.type == "response.output_text.delta"]
    assert (deltas[-1].delta, [e.token for e in deltas[-1].logprobs]) == ("", [eos])
    added = next(ev for ev in events if ev.type == "response.content_part.added")
    assert added.part.text == "" and added.part.logprobs == []
    done = next(ev for ev in events if ev.type == "response.output_text.done")
    assert [(e.token, e.logprob) for e in done.logprobs] == expected
    final = events[-1].response.output[0].content[0]
    assert [(e.token, e.logprob) for e in final.logprobs] == expected


def test_logprobs_need_the_include_entry(engine, client):
    with engine.scripted(always("Hello there!")):
        alone = client.responses.create(model="tiny", input="Hi", top_logprobs=3)
        assert engine.params[-1].logprobs is None
        other = client.responses.create(model="tiny", input="Hi",
                                        include=["reasoning.encrypted_content"])
        assert engine.params[-1].logprobs is None
        events = list(client.responses.create(model="tiny", input="Hi", stream=True))
        zero = client.responses.create(model="tiny", input="Hi", include=LOGPROBS)
        assert engine.params[-1].logprobs == 0
    assert alone.top_logprobs == 3 and other.top_logprobs is None
    assert alone.output[0].content[0].logprobs == [] and other.output[0].content[0].logprobs == []
    assert delta_logprobs(events) == []
    entries = zero.output[0].content[0].logprobs
    assert len(entries) == zero.usage.output_tokens and all(e.top_logprobs == [] for e in entries)


def test_logprobs_of_a_turn_with_calls_cover_only_the_text_before_the_first_call(engine, client):
    kwargs = dict(model="tiny", input="Weather in Paris?", tools=[WEATHER], include=LOGPROBS)
    with engine.scripted(always("Let me check.\n" + CALL_TEXT + "\nDone.")):
        whole = client.responses.create(**kwargs)
        events = list(client.responses.create(**kwargs, stream=True))
    assert [i.type for i in whole.output] == ["message", "function_call", "message"]
    first, last = whole.output[0].content[0], whole.output[2].content[0]
    assert (first.text, last.text.strip()) == ("Let me check.", "Done.")
    assert "".join(e.token for e in first.logprobs) == "Let me check."
    assert last.logprobs == []
    assert delta_logprobs(events) == [(e.token, e.logprob) for e in first.logprobs]


def test_bad_logprobs_fields_are_400_naming_the_field(client):
    import openai

    cases = [({"top_logprobs": 21}, "top_logprobs", "invalid_value"),
             ({"top_logprobs": -1}, "top_logprobs", "invalid_value"),
             ({"top_logprobs": "x"}, "top_logprobs", "invalid_value"),
             ({"include": LOGPROBS[0]}, "include", "invalid_value"),
             ({"include": [3]}, "include", "invalid_value"),
             ({"include": ["message.output_text.logprob"]}, "include", "unsupported_value")]
    for kwargs, param, code in cases:
        with pytest.raises(openai.BadRequestError) as err:
            client.responses.create(model="tiny", input="Hi", **kwargs)
        assert (err.value.body["param"], err.value.body["code"]) == (param, code)
