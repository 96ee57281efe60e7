"""vLLM's prompt ending fields on Chat Completions and /tokenize: `add_generation_prompt`
false (no assistant header) and `continue_final_message` (the assistant's last message left
open: a prefilled answer the model continues); exact prompts against the tokenizer's own
chat template, and every misuse a 400."""

from __future__ import annotations

import httpx
import pytest

from paste.engine.request import GenerationParams

PREFILLED = [{"role": "user", "content": "Name a city."},
             {"role": "assistant", "content": "The city is"}]


def post(server, path, body):
    return httpx.post(f"{server.url}{path}", json={"model": "tiny", **body}, timeout=60)


def template(engine, messages, **kwargs):
    """The chat template's text, tokenised (an independent path to the prompt ids)."""
    text = engine.tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)
    return list(engine.tokenizer.encode(text, add_special_tokens=False))


def test_tokenize_renders_each_ending_as_the_template_does(engine, server):
    cont = post(server, "/tokenize", {"messages": PREFILLED, "add_generation_prompt": False,
                                      "continue_final_message": True}).json()["tokens"]
    assert cont == template(engine, PREFILLED, add_generation_prompt=False,
                            continue_final_message=True)
    assert engine.tokenizer.decode(cont).endswith("<|im_start|>assistant\nThe city is")
    bare = post(server, "/tokenize", {"messages": PREFILLED[:1],
                                      "add_generation_prompt": False}).json()["tokens"]
    assert bare == template(engine, PREFILLED[:1], add_generation_prompt=False)
    usual = post(server, "/tokenize", {"messages": PREFILLED[:1]}).json()["tokens"]
    assert usual == template(engine, PREFILLED[:1], add_generation_prompt=True)
    assert usual[: len(bare)] == bare and len(usual) > len(bare)


def test_a_prefilled_answer_is_continued_not_restarted(engine, server):
    body = {"messages": PREFILLED, "add_generation_prompt": False,
            "continue_final_message": True, "max_tokens": 6, "temperature": 0}
    answer = post(server, "/v1/chat/completions", body).json()
    prompt = template(engine, PREFILLED, add_generation_prompt=False,
                      continue_final_message=True)
    own = engine.generate([prompt], GenerationParams(max_tokens=6, temperature=0.0))[0]
    assert answer["choices"][0]["message"]["content"] == own.text  # the continuation only
    assert answer["usage"]["prompt_tokens"] == len(prompt)
    assert engine.prompts[-1].endswith("<|im_start|>assistant\nThe city is")


def test_without_the_generation_prompt_the_model_writes_after_the_messages(engine, server):
    body = {"messages": PREFILLED[:1], "add_generation_prompt": False, "max_tokens": 4,
            "temperature": 0}
    answer = post(server, "/v1/chat/completions", body).json()
    prompt = template(engine, PREFILLED[:1], add_generation_prompt=False)
    assert answer["usage"]["prompt_tokens"] == len(prompt)
    assert not engine.prompts[-1].endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/tokenize"])
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": PREFILLED, "continue_final_message": True}, "continue_final_message"),
        ({"messages": PREFILLED[:1], "add_generation_prompt": False,
          "continue_final_message": True}, "messages"),
        ({"messages": PREFILLED, "continue_final_message": "yes"}, "continue_final_message"),
        ({"messages": PREFILLED, "add_generation_prompt": 0}, "add_generation_prompt"),
    ],
)
def test_misused_endings_are_400_naming_the_field(server, path, body, param):
    reply = post(server, path, body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param
