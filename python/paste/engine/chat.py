"""Prompt text -> token ids with a model's own tokenizer and chat template (shared by the
Engine and the replay's SimulatedEngine, so both render prompts identically)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def encode_prompt(tokenizer: Any, prompt: str | Sequence[int]) -> list[int]:
    """Token ids of a text (no special tokens added) or of an id sequence as given."""
    if isinstance(prompt, str):
        return list(tokenizer.encode(prompt, add_special_tokens=False))
    return [int(t) for t in prompt]


def render_chat(tokenizer: Any, messages: list[dict[str, Any]],
                tools: list[dict] | None = None, add_generation_prompt: bool = True,
                template_kwargs: dict[str, Any] | None = None,
                continue_final_message: bool = False) -> list[int]:
    """Token ids of `messages` (and tool schemas) rendered by the model's chat template;
    `template_kwargs` are extra variables of the template (Qwen3's `enable_thinking`);
    `continue_final_message`: the last message is left open (no end-of-turn after it), for
    the model to continue."""
    extra = dict(template_kwargs or {})
    if continue_final_message:
        extra["continue_final_message"] = True
    ids = tokenizer.apply_chat_template(
        messages, tools=tools, tokenize=True, add_generation_prompt=add_generation_prompt,
        **extra)
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    return [int(t) for t in ids]


class ChatPromptMixin:
    """`encode` and `chat_prompt` for an engine whose `tokenizer` is the model's own."""

    tokenizer: Any

    def encode(self, prompt: str | Sequence[int]) -> list[int]:
        return encode_prompt(self.tokenizer, prompt)

    def chat_prompt(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict] | None = None,
        add_generation_prompt: bool = True,
        template_kwargs: dict[str, Any] | None = None,
        continue_final_message: bool = False,
    ) -> list[int]:
        """Token ids of `messages` rendered by the model's own chat template (with
        `template_kwargs`, extra template variables; `continue_final_message`: the last
        message left open)."""
        return render_chat(self.tokenizer, messages, tools, add_generation_prompt,
                           template_kwargs, continue_final_message)
