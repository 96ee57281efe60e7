"""/v1/chat/completions through the real openai client: whole and streamed answers, tool
calls (streamed deltas reassemble to the non-streamed call), tool_choice, stop, usage."""

from __future__ import annotations

import json

import pytest

from test_server_support import always

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}
CALL_TEXT = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
USER = [{"role": "user", "content": "Weather in Paris?"}]


def reassemble(stream):
    """(content, {index: [id, name, arguments]}, finish_reason, usage) of a chunk stream."""
    content, calls, finish, usage = "", {}, None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            content += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, [None, None, ""])
                if call.id:
                    entry[0] = call.id
                if call.function.name:
                    entry[1] = call.function.name
                entry[2] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    return content, calls, finish, usage


def test_chat_completion_returns_the_assistant_text_and_exact_usage(engine, client):
    with engine.scripted(always("Hello there!")):
        out = client.chat.completions.create(model="tiny", messages=USER, temperature=0)
    assert out.object == "chat.completion" and out.model == "tiny"
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].message.content == "Hello there!"
    assert out.choices[0].message.tool_calls is None
    assert out.choices[0].finish_reason == "stop"
    prompt = engine.chat_prompt([{"role": "user", "content": "Weather in Paris?"}])
    assert out.usage.prompt_tokens == len(prompt)
    assert out.usage.completion_tokens == len(engine.encode("Hello there!")) + 1  # + end of turn
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


def test_streamed_greedy_deltas_reassemble_to_the_whole_answer(client):
    kwargs = dict(model="tiny", messages=[{"role": "user", "content": "The capital of France"}],
                  temperature=0, max_tokens=12)
    whole = client.chat.completions.create(**kwargs)
    stream = client.chat.completions.create(**kwargs, stream=True,
                                            stream_options={"include_usage": True})
    content, calls, finish, usage = reassemble(stream)
    assert content == whole.choices[0].message.content
    assert len(content) > 0 and calls == {}
    assert finish == whole.choices[0].finish_reason
    assert usage.prompt_tokens == whole.usage.prompt_tokens
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_streamed_tool_call_reassembles_to_the_non_streamed_call(engine, client):
    with engine.scripted(always(CALL_TEXT)):
        whole = client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER_TOOL])
        content, calls, finish, _ = reassemble(client.chat.completions.create(
            model="tiny", messages=USER, tools=[WEATHER_TOOL], stream=True))
    message = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls" and finish == "tool_calls"
    assert message.content is None and content == ""
    assert [(c.type, c.function.name, json.loads(c.function.arguments))
            for c in message.tool_calls] == [("function", "get_weather", {"city": "Paris"})]
    assert [(v[1], json.loads(v[2])) for v in calls.values()] == [
        ("get_weather", {"city": "Paris"})]
    assert message.tool_calls[0].id.startswith("call_") and calls[0][0].startswith("call_")
    # the model saw the tool: the tiny ChatML template cannot render tools, so they are in
    # the system message with the call syntax of the "json" format
    assert '"name": "get_weather"' in engine.prompts[-1]


def test_parallel_calls_and_parallel_tool_calls_false(engine, client):
    two = json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}},
                      {"name": "get_weather", "arguments": {"city": "Rome"}}])
    with engine.scripted(always(two)):
        both = client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER_TOOL])
        one = client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER_TOOL],
                                             parallel_tool_calls=False)
        _, streamed, _, _ = reassemble(client.chat.completions.create(
            model="tiny", messages=USER, tools=[WEATHER_TOOL], stream=True))
    cities = [json.loads(c.function.arguments)["city"] for c in both.choices[0].message.tool_calls]
    assert cities == ["Paris", "Rome"]
    assert [json.loads(v[2])["city"] for _, v in sorted(streamed.items())] == ["Paris", "Rome"]
    assert len({v[0] for v in streamed.values()}) == 2  # distinct ids
    assert [json.loads(c.function.arguments)["city"]
            for c in one.choices[0].message.tool_calls] == ["Paris"]


def test_tool_result_turn_renders_the_earlier_call_and_the_result(engine, client):
    history = USER + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22 C and sunny"},
    ]
    with engine.scripted(always("It is 22 C and sunny in Paris.")):
        out = client.chat.completions.create(model="tiny", messages=history, tools=[WEATHER_TOOL])
    assert out.choices[0].message.content == "It is 22 C and sunny in Paris."
    assert out.choices[0].finish_reason == "stop"
    prompt = engine.prompts[-1]
    assert "<|im_start|>assistant\n" + CALL_TEXT + "<|im_end|>" in prompt
    assert "<|im_start|>tool\n22 C and sunny<|im_end|>" in prompt


def test_tool_choice_none_hides_tools_and_parses_nothing(engine, client):
    with engine.scripted(always(CALL_TEXT)):
        out = client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER_TOOL],
                                             tool_choice="none")
    assert out.choices[0].message.content == CALL_TEXT
    assert out.choices[0].message.tool_calls is None
    assert out.choices[0].finish_reason == "stop"
    assert "get_weather" not in engine.prompts[-1]


NAMED = {"type": "function", "function": {"name": "get_weather"}}
PREFIX_NAMED = '{"name": "get_weather", "arguments": '  # forced_call_prefix, json format


def test_tool_choice_named_starts_the_answer_inside_a_call_of_that_tool(engine, client):
    with engine.scripted(always('{"city": "Paris"}}')):  # the model writes only the arguments
        out = client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER_TOOL],
                                             tool_choice=NAMED)
        prompt = engine.prompts[-1]
        _, calls, finish, usage = reassemble(client.chat.completions.create(
            model="tiny", messages=USER, tools=[WEATHER_TOOL], tool_choice=NAMED, stream=True,
            stream_options={"include_usage": True}))
    assert "You must answer with a call of the tool get_weather." in prompt
    assert prompt.endswith("<|im_start|>assistant\n" + PREFIX_NAMED)
    msg = out.choices[0].message
    assert msg.content is None and out.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls] == [
        ("get_weather", {"city": "Paris"})]
    assert [(v[1], json.loads(v[2])) for v in calls.values()] == [("get_weather", {"city": "Paris"})]
    assert finish == "tool_calls"
    # the forced prefix is prompt, not completion: usage counts what the model wrote
    assert out.usage.completion_tokens == len(engine.encode('{"city": "Paris"}}')) + 1
    assert usage.prompt_tokens == out.usage.prompt_tokens


def test_tool_choice_required_lets_the_model_name_the_tool(engine, client):
    with engine.scripted(always('get_weather", "arguments": {"city": "Rome"}}')):
        out = client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER_TOOL],
                                             tool_choice="required")
    assert "You must answer with a call of one of the tools." in engine.prompts[-1]
    assert engine.prompts[-1].endswith('<|im_start|>assistant\n{"name": "')
    calls = out.choices[0].message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Rome"})]


def test_tool_choice_named_constrains_the_arguments_to_the_schema(engine, client):
    # the tiny random model's own sampling: only the grammar makes this a call of the schema
    tool = {"type": "function", "function": {"name": "set_unit", "parameters": {
        "type": "object", "properties": {"unit": {"enum": ["c", "f"]}, "n": {"enum": [1, 2]}},
        "required": ["unit", "n"]}}}
    for seed in (0, 1):
        out = client.chat.completions.create(
            model="tiny", messages=USER, tools=[tool], temperature=1.0, seed=seed,
            tool_choice={"type": "function", "function": {"name": "set_unit"}}, max_tokens=60)
        calls = out.choices[0].message.tool_calls
        assert [c.function.name for c in calls] == ["set_unit"]
        args = json.loads(calls[0].function.arguments)
        assert sorted(args) == ["n", "unit"] and args["unit"] in "cf" and args["n"] in (1, 2)
        assert out.choices[0].finish_reason == "tool_calls"
    spec = engine.params[-1].grammar
    assert json.loads(spec.json_schema) == tool["function"]["parameters"] and spec.suffix == "}"


def test_tool_choice_required_constrains_the_call_to_one_of_the_tools(client):
    unit = {"type": "function", "function": {"name": "set_unit", "parameters": {
        "type": "object", "properties": {"unit": {"enum": ["c", "f"]}}, "required": ["unit"]}}}
    mode = {"type": "function", "function": {"name": "set_mode", "parameters": {
        "type": "object", "properties": {"on": {"type": "boolean"}}, "required": ["on"]}}}
    for seed in range(3):
        out = client.chat.completions.create(model="tiny", messages=USER, tools=[unit, mode],
                                             tool_choice="required", temperature=1.0,
                                             seed=seed, max_tokens=60)
        (call,) = out.choices[0].message.tool_calls
        args = json.loads(call.function.arguments)
        assert (call.function.name, args) in (("set_unit", {"unit": "c"}),
                                               ("set_unit", {"unit": "f"}),
                                               ("set_mode", {"on": True}),
                                               ("set_mode", {"on": False}))
        assert out.choices[0].finish_reason == "tool_calls"


def test_response_format_json_schema_constrains_the_content(engine, client):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"},
              "n": {"enum": [1, 2, 3]}}, "required": ["ok", "n"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    out = client.chat.completions.create(model="tiny", messages=USER, temperature=1.0, seed=3,
                                         response_format=fmt, max_tokens=40)
    value = json.loads(out.choices[0].message.content)
    assert sorted(value) == ["n", "ok"] and isinstance(value["ok"], bool)
    assert out.choices[0].finish_reason == "stop"
    client.chat.completions.create(model="tiny", messages=USER, max_tokens=1,
                                   response_format={"type": "json_object"})
    assert engine.params[-1].grammar is not None and engine.params[-1].grammar.json_schema is None


def test_bad_response_formats_are_400_naming_the_field(client):
    import openai

    cases = [({"type": "xml"}, "response_format"),
             ({"type": "json_schema"}, "response_format.json_schema"),
             ({"type": "json_schema", "json_schema": {"name": "r", "schema": [1]}},
              "response_format.json_schema.schema"),
             ({"type": "json_schema", "json_schema": {"name": "r", "schema": {
                 "type": "object", "properties": {"a": {"$ref": "#/nope"}}}}},
              "response_format")]
    for fmt, param in cases:
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="tiny", messages=USER, response_format=fmt)
        assert err.value.body["param"] == param


def test_a_tool_schema_the_grammar_cannot_build_is_400_naming_tools(client):
    import openai

    bad = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"$ref": "#/nope"}}}}}
    for choice in ("required", {"type": "function", "function": {"name": "f"}}):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="tiny", messages=USER, tools=[bad],
                                           tool_choice=choice)
        assert err.value.body["param"] == "tools"
        assert "cannot build a grammar" in err.value.body["message"]


def test_tool_choice_forced_call_the_model_breaks_stays_content(engine, client):
    # the scripted text replaces the grammar here (as a pythonic call's arguments, which no
    # grammar covers, could): text that is not a call is returned as it stands, with the
    # forced start, and nothing is lost
    with engine.scripted(always("No.")):
        out = client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER_TOOL],
                                             tool_choice=NAMED)
    assert out.choices[0].message.tool_calls is None
    assert out.choices[0].message.content == PREFIX_NAMED + "No."
    assert out.choices[0].finish_reason == "stop"


def test_tool_choice_named_keeps_one_call_auto_keeps_all(engine, client):
    second = '{"name": "get_weather", "arguments": {"city": "Rome"}}'
    with engine.scripted(always('{"city": "Paris"}}\n' + second)):
        named = client.chat.completions.create(model="tiny", messages=USER,
                                               tools=[WEATHER_TOOL], tool_choice=NAMED)
    with engine.scripted(always(CALL_TEXT + "\n" + second)):
        auto = client.chat.completions.create(model="tiny", messages=USER, tools=[WEATHER_TOOL])
    cities = [[json.loads(c.function.arguments)["city"] for c in r.choices[0].message.tool_calls]
              for r in (named, auto)]
    assert cities == [["Paris"], ["Paris", "Rome"]]


def test_logprobs_one_per_completion_token_whole_and_streamed(engine, client):
    with engine.scripted(always("Hello there!")):
        out = client.chat.completions.create(model="tiny", messages=USER, logprobs=True,
                                             top_logprobs=2)
        stream = client.chat.completions.create(model="tiny", messages=USER, logprobs=True,
                                                top_logprobs=2, stream=True)
        streamed = [e for chunk in stream for choice in chunk.choices
                    if choice.logprobs is not None for e in choice.logprobs.content]
    content = out.choices[0].logprobs.content
    assert len(content) == out.usage.completion_tokens
    eos = engine.tokenizer.decode([engine.tokenizer.eos_token_id], skip_special_tokens=False)
    assert "".join(e.token for e in content) == "Hello there!" + eos
    for e in content:
        assert e.logprob <= 0.0 and e.bytes == list(e.token.encode("utf-8"))
        assert len(e.top_logprobs) == 2
        assert e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in content]
    plain = client.chat.completions.create(model="tiny", messages=USER, max_tokens=2)
    assert plain.choices[0].logprobs is None


def test_bad_logprobs_fields_are_400(client):
    import openai

    for kwargs, param in (({"top_logprobs": 2}, "top_logprobs"),
                          ({"logprobs": True, "top_logprobs": 21}, "top_logprobs")):
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="tiny", messages=USER, **kwargs)
        assert err.value.body["param"] == param


def test_stop_string_cuts_the_answer(engine, client):
    with engine.scripted(always("Hello there! How can I help you today?")):
        out = client.chat.completions.create(model="tiny", messages=USER, stop=["How"])
        streamed, _, finish, _ = reassemble(client.chat.completions.create(
            model="tiny", messages=USER, stop="How", stream=True))
    assert out.choices[0].message.content == "Hello there! "
    assert out.choices[0].finish_reason == "stop"
    assert streamed == "Hello there! " and finish == "stop"


def test_max_tokens_gives_finish_reason_length(engine, client):
    with engine.scripted(always("Hello there! How can I help you today?")):
        out = client.chat.completions.create(model="tiny", messages=USER, max_completion_tokens=3)
    assert out.choices[0].finish_reason == "length"
    assert out.usage.completion_tokens == 3


def test_models_lists_the_served_model(engine, server, client):
    import httpx

    import paste

    assert [m.id for m in client.models.list()] == ["tiny"]
    assert client.models.retrieve("tiny").owned_by == "paste"
    assert client.models.retrieve("tiny").max_model_len == engine.core.max_model_len
    assert httpx.get(server.url + "/version").json() == {"version": paste.__version__}


def test_prompt_cache_key_reuses_the_conversation_kv(engine, client):
    first_messages = [{"role": "user", "content": "Tell me about Paris."}]
    with engine.scripted(always("Hello there!")):
        first = client.chat.completions.create(model="tiny", messages=first_messages,
                                               prompt_cache_key="conv-1")
        follow = first_messages + [{"role": "assistant", "content": "Hello there!"},
                                   {"role": "user", "content": "And Rome?"}]
        second = client.chat.completions.create(model="tiny", messages=follow,
                                                prompt_cache_key="conv-1")
    parked = first.usage.prompt_tokens + first.usage.completion_tokens
    assert engine.chat_prompt(follow)[:parked] == (
        engine.chat_prompt(first_messages) + engine.encode("Hello there!")
        + [engine.tokenizer.eos_token_id])
    # all of the parked sequence but its last token, which was sampled and never fed back
    assert second.usage.prompt_tokens_details.cached_tokens == parked - 1
    engine.end_session("conv-1")
