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


def test_previous_response_id_is_refused(client):
    import openai

    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="tiny", input="Hi", previous_response_id="resp_1")
    assert info.value.status_code == 400
    assert info.value.body["param"] == "previous_response_id"
    assert info.value.body["code"] == "unsupported_parameter"


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
