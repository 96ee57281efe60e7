"""Reasoning text apart from the answer: `<think> ... </think>` (Qwen3, DeepSeek-R1).

A reasoning model writes its thinking between an opening and a closing tag, then its answer
(text and tool calls). `ReasoningSplitter` splits a stream of output text deltas into
(reasoning, text) pieces as they come: reasoning is what lies between the tags, the answer
everything after the closing tag (its leading newlines dropped). A tag split across deltas is
held back until it is whole or proves not to be one, so a streamed split joins to exactly the
one-shot split (`split_reasoning`) of the whole text.

Where the thinking starts:
- the output opens with the opening tag (leading whitespace allowed): Qwen3's own output;
- the prompt already ends with it (a chat template that opens the thinking for the model,
  as DeepSeek-R1's and Qwen3's thinking-only variants do): `in_reasoning=True`, and the
  output starts inside it (an opening tag the model repeats is dropped);
- otherwise there is none and every delta is answer text (Qwen3 with thinking disabled).
A thinking that never closes (max_tokens cut it) stays reasoning.

`REASONING_PARSERS` names the parsers `paste serve --reasoning-parser` takes (vLLM's names).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from paste.errors import InvalidArgumentError


@dataclass(frozen=True)
class ReasoningTags:
    open: str = "<think>"
    close: str = "</think>"


REASONING_PARSERS: dict[str, ReasoningTags] = {
    "qwen3": ReasoningTags(),
    "deepseek_r1": ReasoningTags(),
}


def reasoning_tags(name: str) -> ReasoningTags:
    """The tags of reasoning parser `name`; InvalidArgumentError naming the known ones."""
    try:
        return REASONING_PARSERS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown reasoning parser {name!r} (known: {', '.join(REASONING_PARSERS)})"
        ) from None


def opens_reasoning(prompt_text: str, tags: ReasoningTags) -> bool:
    """Whether a prompt ending with `prompt_text` leaves the model inside its thinking (the
    template wrote the opening tag and no closing one after it)."""
    tail = prompt_text.rstrip()
    return tail.endswith(tags.open)


_START, _REASONING, _AFTER, _TEXT = range(4)


PROMPT_TAIL = 8  # the prompt's last tokens whose text shows whether it opened the thinking


class ReasoningSplitter:
    """Output text deltas -> [(is_reasoning, text)] pieces (see the module docstring)."""

    @classmethod
    def after_prompt(cls, tags: ReasoningTags, prompt_ids: Sequence[int],
                     decode: Callable[[list[int]], str]) -> ReasoningSplitter:
        """The splitter of the output that follows `prompt_ids`: inside the thinking when the
        text of the prompt's last PROMPT_TAIL tokens (`decode`, special tokens kept) opened it
        (opens_reasoning)."""
        return cls(tags, opens_reasoning(decode(list(prompt_ids[-PROMPT_TAIL:])), tags))

    def __init__(self, tags: ReasoningTags, in_reasoning: bool = False) -> None:
        self.tags = tags
        self.opened_by_prompt = in_reasoning  # the output starts inside the thinking
        self._state = _REASONING if in_reasoning else _START
        self._reasoned = in_reasoning
        self._first = in_reasoning  # inside from the prompt: a repeated opening tag goes
        self._held = ""

    @property
    def thinking(self) -> bool:
        """Whether the text so far may still be (or is) the thinking: before the answer."""
        return self._state in (_START, _REASONING)

    @property
    def reasoned(self) -> bool:
        """Whether the output had a thinking part (opened by the prompt or the output)."""
        return self._reasoned

    def feed(self, delta: str) -> list[tuple[bool, str]]:
        self._held += delta
        out: list[tuple[bool, str]] = []
        while self._held:
            before = (self._state, len(self._held))
            self._step(out)
            if (self._state, len(self._held)) == before:
                break  # waiting for more text
        return out

    def close(self) -> list[tuple[bool, str]]:
        """The text held back (a partial tag that never completed) as what it stood in."""
        held, self._held = self._held, ""
        if not held:
            return []
        if self._state == _REASONING:
            return [(True, held)]
        if self._state == _AFTER:
            held = held.lstrip("\n")
        return [(False, held)] if held else []

    def _step(self, out: list[tuple[bool, str]]) -> None:
        held, tags = self._held, self.tags
        if self._state == _START:
            lead = held.lstrip()
            if lead.startswith(tags.open):
                self._held = lead[len(tags.open):]
                self._state = _REASONING
                self._reasoned = True
            elif not tags.open.startswith(lead):  # not (the start of) the opening tag
                self._state = _TEXT
            return
        if self._state == _REASONING:
            if self._first:
                lead = held.lstrip()
                if tags.open.startswith(lead):
                    return  # maybe the opening tag again: wait
                self._first = False
                if lead.startswith(tags.open):
                    self._held = held = lead[len(tags.open):]
            at = held.find(tags.close)
            if at >= 0:
                if at:
                    out.append((True, held[:at]))
                self._held = held[at + len(tags.close):]
                self._state = _AFTER
                return
            keep = _partial_suffix(held, tags.close)
            if len(held) > keep:
                out.append((True, held[:len(held) - keep]))
                self._held = held[len(held) - keep:]
            return
        if self._state == _AFTER:
            text = held.lstrip("\n")
            self._held = text
            if text:
                self._state = _TEXT
            return
        out.append((False, held))
        self._held = ""


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of `text` that is a proper start of `tag`."""
    for k in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:k]):
            return k
    return 0


def split_reasoning(text: str, tags: ReasoningTags,
                    in_reasoning: bool = False) -> tuple[str, str]:
    """(reasoning, answer) of a whole output."""
    splitter = ReasoningSplitter(tags, in_reasoning)
    pieces = splitter.feed(text) + splitter.close()
    return ("".join(t for r, t in pieces if r), "".join(t for r, t in pieces if not r))
