"""A reasoning model's thinking apart from its answer (`paste serve --reasoning-parser`), and
vLLM's chat_template_kwargs that turn it on or off.

The splitter (parsing/reasoning.py) on exact texts, streamed in every chunking; then the HTTP
APIs on a tiny model whose chat template opens the thinking when `enable_thinking` is set:
Chat Completions (reasoning_content, streamed and not), Responses (a reasoning item) and the
tool calls written after the thinking (a call inside it is not one).
"""

from __future__ import annotations

import json

import httpx
import pytest

from paste.errors import InvalidArgumentError
from paste.parsing.reasoning import (
    ReasoningSplitter,
    ReasoningTags,
    opens_reasoning,
    reasoning_tags,
    split_reasoning,
)
from test_server_support import FakeScriptedEngine, live_server, openai_client

TAGS = ReasoningTags()

CASES = [  # (output, prompt opened the thinking, (reasoning, answer))
    ("<think>\nLet me think.\n</think>\n\nThe answer is 4.", False,
     ("\nLet me think.\n", "The answer is 4.")),
    ("  <think>a</think>b", False, ("a", "b")),
    ("Hello <think>x</think>", False, ("", "Hello <think>x</think>")),  # not at the start
    ("<thi", False, ("", "<thi")),  # a tag that never completed is what it was
    ("<think>cut short by max_tokens", False, ("cut short by max_tokens", "")),
    ("No thinking at all.", False, ("", "No thinking at all.")),
    ("Let me see</think>\n\nOK", True, ("Let me see", "OK")),
    ("<think>again</think>answer", True, ("again", "answer")),  # a repeated opening tag
    ("a </thin b</think>c", True, ("a </thin b", "c")),
    ("</think>", True, ("", "")),
    ("", False, ("", "")),
]


@pytest.mark.parametrize(("text", "opened", "expected"), CASES)
def test_split_reasoning_whole_and_in_every_chunking(text, opened, expected):
    assert split_reasoning(text, TAGS, opened) == expected
    chunkings = [[text[:i], text[i:]] for i in range(len(text) + 1)] + [list(text)]
    for chunks in chunkings:
        splitter = ReasoningSplitter(TAGS, opened)
        pieces = [p for chunk in chunks for p in splitter.feed(chunk)] + splitter.close()
        assert ("".join(t for r, t in pieces if r),
                "".join(t for r, t in pieces if not r)) == expected, chunks
        assert all(t for _, t in pieces)  # no empty pieces


def test_a_partial_tag_is_held_until_it_proves_to_be_one():
    splitter = ReasoningSplitter(TAGS)
    assert splitter.feed("<th") == []
    assert splitter.feed("ink>plan") == [(True, "plan")]
    assert splitter.feed(" more</thi") == [(True, " more")]
    assert splitter.feed("nk>\n") == []
    assert splitter.feed("\nDone") == [(False, "Done")]
    assert splitter.close() == []


def test_parser_names_and_prompt_openings():
    assert reasoning_tags("qwen3") == reasoning_tags("deepseek_r1") == TAGS
    with pytest.raises(InvalidArgumentError,
                       match="unknown reasoning parser 'r2' .known: qwen3, deepseek_r1"):
        reasoning_tags("r2")
    assert opens_reasoning("<|im_start|>assistant\n<think>\n", TAGS)
    assert not opens_reasoning("<|im_start|>assistant\n", TAGS)
    assert not opens_reasoning("<think>\n\n</think>\n\n", TAGS)  # thinking turned off


def test_a_bad_reasoning_parser_is_refused_by_config_and_cli(capsys):
    from paste.cli import build_parser, main
    from paste.cli.serve_cmd import server_options
    from paste.server.config import ServerConfig

    with pytest.raises(InvalidArgumentError, match="unknown reasoning parser 'x'"):
        ServerConfig(model_id="m", reasoning_parser="x")
    args = build_parser().parse_args(["serve", "--reasoning-parser", "qwen3"])
    assert server_options(args)["reasoning_parser"] == "qwen3"
    assert main(["serve", "--model", "m", "--reasoning-parser", "x"]) == 2
    assert "unknown reasoning parser 'x'" in capsys.readouterr().err


# ----- the HTTP APIs -------------------------------------------------------------------------
THINKING_TEMPLATE = (  # ChatML whose generation prompt opens the thinking on request
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking %}<think>\n{% endif %}{% endif %}"
)
CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from test_session_support import build_long_tiny_model, tiny_engine

    folder = build_long_tiny_model(tmp_path_factory.mktemp("tiny-thinking"))
    (folder / "chat_template.jinja").write_text(THINKING_TEMPLATE)
    eng = FakeScriptedEngine(tiny_engine(folder))
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def server(engine):
    with live_server(engine, reasoning_parser="qwen3") as srv:
        yield srv


def ask(server, **extra):
    client = openai_client(server)
    return client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Weather in Paris?"}], **extra)


def test_chat_completions_give_the_thinking_as_reasoning_content(engine, server):
    text = "<think>\nThe user wants Paris.\n</think>\n\nIt is sunny in Paris."
    with engine.scripted(lambda _prompt: text):
        message = ask(server).choices[0].message
        chunks = list(ask(server, stream=True))
    assert message.content == "It is sunny in Paris."
    assert message.model_extra["reasoning_content"] == "\nThe user wants Paris.\n"
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "It is sunny in Paris."
    assert "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas) == (
        "\nThe user wants Paris.\n")
    # the thinking comes first in the stream, then the answer
    kinds = [k for d in deltas for k in ("reasoning_content", "content")
             if (d.model_extra or {}).get(k) or getattr(d, k, None)]
    assert kinds == sorted(kinds, reverse=True)


def test_include_reasoning_false_leaves_the_thinking_out(engine, server):
    text = "<think>\nThe user wants Paris.\n</think>\n\nIt is sunny in Paris."
    with engine.scripted(lambda _prompt: text):
        message = ask(server, extra_body={"include_reasoning": False}).choices[0].message
        chunks = list(ask(server, stream=True, extra_body={"include_reasoning": False}))
    assert message.content == "It is sunny in Paris."
    assert "reasoning_content" not in message.model_extra
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "It is sunny in Paris."
    assert not any("reasoning_content" in (d.model_extra or {}) for d in deltas)


def test_a_call_inside_the_thinking_is_not_a_call(engine, server):
    text = f"<think>Maybe {CALL.replace('Paris', 'Rome')}?</think>{CALL}"
    with engine.scripted(lambda _prompt: text):
        choice = ask(server, tools=TOOLS).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments))
            for c in choice.message.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert choice.message.model_extra["reasoning_content"] == (
        f"Maybe {CALL.replace('Paris', 'Rome')}?")


def test_chat_template_kwargs_open_the_thinking_in_the_prompt(engine, server):
    # enable_thinking: the prompt ends with "<think>\n", so the output starts inside it
    with engine.scripted(lambda _prompt: "It is 22 C.</think>\n\nSunny."):
        message = ask(server, extra_body={
            "chat_template_kwargs": {"enable_thinking": True}}).choices[0].message
    assert engine.prompts[-1].endswith("<|im_start|>assistant\n<think>\n")
    assert (message.content, message.model_extra["reasoning_content"]) == (
        "Sunny.", "It is 22 C.")
    with engine.scripted(lambda _prompt: "Sunny."):
        message = ask(server).choices[0].message
    assert engine.prompts[-1].endswith("<|im_start|>assistant\n")
    assert message.content == "Sunny." and "reasoning_content" not in message.model_extra


@pytest.mark.parametrize(("value", "message"), [
    ([1], "'chat_template_kwargs' must be an object"),
    ({"tools": []}, "'chat_template_kwargs' cannot set tools"),
    ({"add_generation_prompt": False, "messages": []},
     "'chat_template_kwargs' cannot set add_generation_prompt, messages"),
])
def test_bad_chat_template_kwargs_are_a_400(server, value, message):
    body = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
            "chat_template_kwargs": value}
    got = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=60)
    assert got.status_code == 400
    assert got.json()["error"]["message"] == message
    assert got.json()["error"]["param"] == "chat_template_kwargs"


def test_tokenize_renders_the_prompt_with_the_template_kwargs(engine, server):
    body = {"messages": [{"role": "user", "content": "hi"}]}
    plain = httpx.post(server.url + "/tokenize", json=body, timeout=60).json()
    thinking = httpx.post(server.url + "/tokenize", timeout=60, json={
        **body, "chat_template_kwargs": {"enable_thinking": True}}).json()
    opened = engine.tokenizer.decode(thinking["tokens"], skip_special_tokens=False)
    assert opened == engine.tokenizer.decode(plain["tokens"],
                                             skip_special_tokens=False) + "<think>\n"
    bad = httpx.post(server.url + "/tokenize", timeout=60, json={
        **body, "chat_template_kwargs": {"tokenize": False}})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "chat_template_kwargs")


def test_responses_give_the_thinking_as_a_reasoning_item(engine, server):
    text = "<think>Paris, then.</think>\n\nSunny."
    client = openai_client(server)
    with engine.scripted(lambda _prompt: text):
        response = client.responses.create(model="tiny", input="Weather in Paris?")
        events = list(client.responses.create(model="tiny", input="Weather in Paris?",
                                              stream=True))
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].content[0].text == "Paris, then."
    assert response.output_text == "Sunny."
    kinds = [e.type for e in events]
    assert kinds.index("response.reasoning_text.delta") < kinds.index(
        "response.output_text.delta")
    done = next(e for e in events if e.type == "response.reasoning_text.done")
    assert done.text == "Paris, then."
    final = events[-1].response
    assert [item.type for item in final.output] == ["reasoning", "message"]
    ids = engine.encode(text)  # the thinking's tokens: up to the one that closes it
    thought = next(k for k in range(1, len(ids) + 1)
                   if "</think>" in engine.tokenizer.decode(ids[:k]))
    assert response.usage.output_tokens_details.reasoning_tokens == thought
    assert final.usage.output_tokens_details.reasoning_tokens == thought
    assert response.usage.output_tokens == len(ids) + 1  # and the end-of-turn token
    with engine.scripted(lambda _prompt: "Sunny."):
        plain = client.responses.create(model="tiny", input="Weather in Paris?")
    assert plain.usage.output_tokens_details.reasoning_tokens == 0


def test_without_a_reasoning_parser_the_thinking_stays_in_the_answer(engine):
    text = "<think>hmm</think>Sunny."
    with live_server(engine) as srv, engine.scripted(lambda _prompt: text):
        message = ask(srv).choices[0].message
    assert message.content == text and "reasoning_content" not in message.model_extra


# ----- native sessions ------------------------------------------------------------------------
def weather_registry(log):
    from paste.tools import ToolRegistry

    registry = ToolRegistry()

    @registry.tool(effect="read_only", timeout_s=60)
    def get_weather(city: str) -> str:
        """Weather of a city."""
        log.append(city)
        return f"22 C in {city}"

    return registry


def test_a_session_keeps_the_thinking_out_of_its_answer_and_its_calls(engine):
    from paste.session import Final, ReasoningDelta, TokenDelta, ToolCallEvent, ToolResultEvent
    from test_session_support import FakeScriptedPolicy

    log: list[str] = []
    registry = weather_registry(log)
    first = f"<think>Rome? {CALL.replace('Paris', 'Rome')}</think>\n{CALL}"
    policy = FakeScriptedPolicy(engine, [first, "<think>It is warm.</think>\n\nIt is 22 C."])
    try:
        with engine.open_session(tools=registry, turn_params=policy, parser="json",
                                 reasoning=TAGS) as session:
            events = list(session.stream("Weather in Paris?"))
            messages = session.messages
    finally:
        registry.close()
    assert log == ["Paris"]  # the call drafted in the thinking was not made
    reasoning = [e.text for e in events if isinstance(e, ReasoningDelta)]
    assert "".join(reasoning) == f"Rome? {CALL.replace('Paris', 'Rome')}It is warm."
    assert [type(e) for e in events if not isinstance(e, ReasoningDelta | TokenDelta)] == [
        ToolCallEvent, ToolResultEvent, Final]
    assert "".join(e.text for e in events if isinstance(e, TokenDelta)) == "It is 22 C."
    assert events[-1] == Final("It is 22 C.", "completed")
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "Weather in Paris?"), ("assistant", ""), ("tool", "22 C in Paris"),
        ("assistant", "It is 22 C.")]


def test_session_streams_carry_reasoning_events(engine):
    with live_server(engine, reasoning_parser="qwen3") as srv:
        created = httpx.post(srv.url + "/v1/sessions", json={"tools": []}, timeout=60).json()
        with engine.scripted(lambda _prompt: "<think>Easy.</think>\n\nHello!"):
            body = httpx.post(f"{srv.url}/v1/sessions/{created['id']}/messages",
                              json={"content": "Hi", "stream": True}, timeout=60).text
    payloads = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert "".join(p["text"] for p in payloads if p["type"] == "reasoning") == "Easy."
    assert "".join(p["text"] for p in payloads if p["type"] == "token") == "Hello!"
    assert payloads[-1]["type"] == "final" and payloads[-1]["text"] == "Hello!"
