"""A client's conversation as the model sees it: assistant tool calls and tool results that an
OpenAI client sends back (chat messages, Responses items) are rendered by the model's own chat
template, exactly; a template that cannot render tool calls gets them written in the parser's
format; Mistral templates get 9-character call ids, the same for a call and its result.

The engine here is a real tokenizer (tests/tiny_model.py) with a chat template written for the
test; only the prompt is rendered, nothing is generated."""

from __future__ import annotations

import hashlib
import json

import pytest

from paste.engine.chat import ChatPromptMixin
from paste.server.chat_request import parse_chat_request
from paste.server.errors import BadRequestError
from paste.server.prompt import render_prompt
from paste.server.response_store import ResponseStore
from paste.server.responses_request import parse_responses_request
from paste.session.template import template_call_id
from tiny_model import CHAT_TEMPLATE, build_tokenizer

# Renders tool calls and tool results the way tool-capable templates do (Qwen 2.5, Llama 3).
TOOLS_TEMPLATE = (
    "{% if tools %}<|im_start|>system\ntools:{% for t in tools %} {{ t.function.name }}"
    "{% endfor %}<|im_end|>\n{% endif %}{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{{ c.function.name }} "
    "{{ c.function.arguments | tojson }} {{ c.id }}</tool_call>{% endfor %}"
    "{% elif m.role == 'tool' %}<tool_response>{{ m.tool_call_id }}: {{ m.content }}"
    "</tool_response>{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Mistral's rule: a call id that is not 9 letters or digits is an error of the template.
MISTRAL_TEMPLATE = (
    "{% if tools %}[AVAILABLE_TOOLS]{{ tools | length }}[/AVAILABLE_TOOLS]{% endif %}"
    "{% for m in messages %}"
    "{% for c in (m.tool_calls or []) %}{% if not (c.id is string and c.id | length == 9) %}"
    "{{ raise_exception('Tool call IDs should be alphanumeric strings with length 9!') }}"
    "{% endif %}[TOOL_CALLS]{{ c.function.name }}[CALL_ID]{{ c.id }}[ARGS]"
    "{{ c.function.arguments | tojson }}{% endfor %}"
    "{% if m.role == 'tool' %}{% if m.tool_call_id | length != 9 %}"
    "{{ raise_exception('Tool call IDs should be alphanumeric strings with length 9!') }}"
    "{% endif %}[TOOL_RESULTS]{{ m.tool_call_id }} {{ m.content }}[/TOOL_RESULTS]"
    "{% elif m.content %}[INST]{{ m.content }}[/INST]{% endif %}{% endfor %}"
)
TOOL = {"type": "function", "function": {"name": "search", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}}}}
CONVERSATION = [
    {"role": "user", "content": "weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_8f2a71", "type": "function",
         "function": {"name": "search", "arguments": json.dumps({"q": "Paris weather"})}}]},
    {"role": "tool", "tool_call_id": "call_8f2a71", "content": "sunny, 21 C"},
]


class TemplateOnly(ChatPromptMixin):
    """A tokenizer and a chat template: all render_prompt uses of an engine."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    build_tokenizer(folder)
    return folder


def engine_with(folder, template: str) -> TemplateOnly:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    tok.chat_template = template
    return TemplateOnly(tok)


def chat_prompt_text(engine: TemplateOnly, messages: list, parser: str) -> str:
    turn = parse_chat_request({"model": "m", "messages": messages, "tools": [TOOL]}, 16).turn
    return engine.tokenizer.decode(render_prompt(engine, turn, parser))


def test_a_template_that_renders_tool_calls_gets_the_clients_calls_and_results(tokenizer):
    engine = engine_with(tokenizer, TOOLS_TEMPLATE)
    text = chat_prompt_text(engine, CONVERSATION, "hermes")
    assert text == (
        "<|im_start|>system\ntools: search<|im_end|>\n<|im_start|>user\nweather in Paris?<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>search {"q": "Paris weather"} call_8f2a71</tool_call>'
        "<|im_end|>\n"
        "<|im_start|>tool\n<tool_response>call_8f2a71: sunny, 21 C</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n")


def test_a_responses_conversation_renders_its_function_call_items(tokenizer):
    engine = engine_with(tokenizer, TOOLS_TEMPLATE)
    body = {"model": "m", "tools": [{"type": "function", "name": "search",
                                     "parameters": TOOL["function"]["parameters"]}],
            "input": [
                {"role": "user", "content": "weather in Paris?"},
                {"type": "function_call", "call_id": "call_8f2a71", "name": "search",
                 "arguments": json.dumps({"q": "Paris weather"})},
                {"type": "function_call_output", "call_id": "call_8f2a71",
                 "output": "sunny, 21 C"}]}
    request = parse_responses_request(body, 16, ResponseStore(4))
    text = engine.tokenizer.decode(render_prompt(engine, request.turn, "hermes"))
    assert '<|im_start|>assistant\n<tool_call>search {"q": "Paris weather"} call_8f2a71' in text
    assert "<tool_response>call_8f2a71: sunny, 21 C</tool_response>" in text


def test_a_template_without_tool_calls_gets_them_in_the_parsers_format(tokenizer):
    engine = engine_with(tokenizer, CHAT_TEMPLATE)
    text = chat_prompt_text(engine, CONVERSATION, "hermes")
    assert ('<|im_start|>assistant\n<tool_call>\n{"name": "search", "arguments": '
            '{"q": "Paris weather"}}\n</tool_call><|im_end|>\n') in text
    assert "<|im_start|>tool\nsunny, 21 C<|im_end|>\n" in text
    text = chat_prompt_text(engine, CONVERSATION, "mistral_args")
    assert ('<|im_start|>assistant\n[TOOL_CALLS]search[ARGS]{"q": "Paris weather"}'
            "<|im_end|>\n") in text


def test_mistral_templates_get_nine_character_ids_paired_with_their_results(tokenizer):
    engine = engine_with(tokenizer, MISTRAL_TEMPLATE)
    short = hashlib.sha256(b"call_8f2a71").hexdigest()[:9]
    for parser in ("mistral", "mistral_args"):
        text = chat_prompt_text(engine, CONVERSATION, parser)
        assert text == ('[AVAILABLE_TOOLS]1[/AVAILABLE_TOOLS][INST]weather in Paris?[/INST]'
                        f'[TOOL_CALLS]search[CALL_ID]{short}[ARGS]{{"q": "Paris weather"}}'
                        f"[TOOL_RESULTS]{short} sunny, 21 C[/TOOL_RESULTS]")
    kept = [dict(m) for m in CONVERSATION]
    kept[1] = dict(kept[1], tool_calls=[dict(kept[1]["tool_calls"][0], id="a1B2c3D4e")])
    kept[2] = dict(kept[2], tool_call_id="a1B2c3D4e")
    assert "[CALL_ID]a1B2c3D4e[ARGS]" in chat_prompt_text(engine, kept, "mistral")
    assert (template_call_id("a1B2c3D4e"), template_call_id("call_8f2a71")) == ("a1B2c3D4e", short)
    assert template_call_id("a1B2c3D4-") == hashlib.sha256(b"a1B2c3D4-").hexdigest()[:9]
    # other formats pass ids through, so the Mistral template refuses them: a 400
    with pytest.raises(BadRequestError, match="Tool call IDs should be alphanumeric"):
        chat_prompt_text(engine, CONVERSATION, "hermes")


# Qwen3's way: the thinking of an assistant turn, when the client sends it back.
THINKING_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}"
    "{% for c in (m.tool_calls or []) %}<tool_call>{{ c.function.name }}</tool_call>"
    "{% endfor %}{{ m.content }}<|im_end|>\n{% endfor %}"
)
THOUGHT = "The user wants Paris; search first."


def test_an_assistant_messages_thinking_reaches_the_template(tokenizer):
    engine = engine_with(tokenizer, THINKING_TEMPLATE)
    for key in ("reasoning_content", "reasoning"):  # this server's name, vLLM's newer one
        messages = [dict(m) for m in CONVERSATION]
        messages[1] = dict(messages[1], **{key: THOUGHT})
        text = chat_prompt_text(engine, messages, "hermes")
        assert (f"<|im_start|>assistant\n<think>{THOUGHT}</think><tool_call>search</tool_call>"
                "<|im_end|>\n") in text
    bad = [dict(m) for m in CONVERSATION]
    bad[1] = dict(bad[1], reasoning_content=["no"])
    with pytest.raises(BadRequestError, match=r"'messages\[1\].reasoning_content' must be a "
                                              r"string"):
        chat_prompt_text(engine, bad, "hermes")


def responses_prompt_text(engine: TemplateOnly, items: list) -> str:
    body = {"model": "m", "input": items}
    request = parse_responses_request(body, 16, ResponseStore(4))
    return engine.tokenizer.decode(render_prompt(engine, request.turn, "hermes"))


def test_a_responses_reasoning_item_is_the_thinking_of_the_assistant_message_after_it(tokenizer):
    engine = engine_with(tokenizer, THINKING_TEMPLATE)
    call = {"type": "function_call", "call_id": "c1", "name": "search", "arguments": "{}"}
    answer = {"type": "message", "role": "assistant",
              "content": [{"type": "output_text", "text": "Sunny."}]}
    reasoning = {"type": "reasoning", "summary": [],
                 "content": [{"type": "reasoning_text", "text": THOUGHT}]}
    user = {"role": "user", "content": "weather?"}
    output = {"type": "function_call_output", "call_id": "c1", "output": "sunny"}
    text = responses_prompt_text(engine, [user, reasoning, call, output, reasoning, answer])
    assert text == (
        "<|im_start|>user\nweather?<|im_end|>\n"
        f"<|im_start|>assistant\n<think>{THOUGHT}</think><tool_call>search</tool_call>"
        "<|im_end|>\n<|im_start|>tool\nsunny<|im_end|>\n"
        f"<|im_start|>assistant\n<think>{THOUGHT}</think>Sunny.<|im_end|>\n")
    summary = dict(reasoning, content=None, summary=[{"type": "summary_text", "text": "S."}])
    assert "<think>S.</think><tool_call>" in responses_prompt_text(engine, [user, summary, call])
    # a reasoning item with no assistant message after it shows nothing
    assert "<think>" not in responses_prompt_text(engine, [reasoning, user])
    with pytest.raises(BadRequestError, match=r"'input\[1\].content' must be an array of parts"):
        responses_prompt_text(engine, [user, dict(reasoning, content=[{"type": "x"}]), call])


def test_a_stored_responses_output_keeps_its_thinking_for_the_next_request():
    from paste.server.generation import CallPiece, ReasoningPiece, TextPiece
    from paste.server.responses import ResponsesAssembler

    request = parse_responses_request({"model": "m", "input": "weather?"}, 16, ResponseStore(4))
    assembler = ResponsesAssembler(request)
    for piece in (ReasoningPiece("Search "), ReasoningPiece("first."), TextPiece("Looking."),
                  CallPiece(0, "c1", "search", '{"q": '), CallPiece(0, "c1", None, '"x"}')):
        assembler.add(piece)
    assert assembler.assistant_message() == {
        "role": "assistant", "content": "Looking.", "reasoning_content": "Search first.",
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "search", "arguments": '{"q": "x"}'}}]}


@pytest.mark.model
def test_qwen_sees_a_clients_tool_loop_as_its_own_template_renders_it():
    """The real Qwen2.5 template (needs `paste models pull qwen2.5-coder-0.5b-instruct`)."""
    from transformers import AutoTokenizer

    from paste.models.store import is_pulled, resolve_model

    name = "qwen2.5-coder-0.5b-instruct"
    if not is_pulled(name):
        pytest.skip(f"run `paste models pull {name}` first")
    engine = TemplateOnly(AutoTokenizer.from_pretrained(resolve_model(name)))
    ours = chat_prompt_text(engine, CONVERSATION, "json")
    theirs = [dict(m) for m in CONVERSATION]
    call = theirs[1]["tool_calls"][0]
    theirs[1] = dict(theirs[1], content="", tool_calls=[dict(call, function=dict(
        call["function"], arguments=json.loads(call["function"]["arguments"])))])
    assert ours == engine.tokenizer.apply_chat_template(
        theirs, tools=[TOOL], tokenize=False, add_generation_prompt=True)
    assert '<tool_call>\n{"name": "search", "arguments": {"q": "Paris weather"}}\n</tool_call>' \
        in ours
