"""`paste serve --chat-template`: a Jinja chat template that replaces the model's own.

vLLM's flag, for models whose tokenizer has no template, or whose template cannot render tools
or tool calls: the value is a file holding the template, or the template itself (text with a
`{`). The template is parsed when the server starts, so a syntax error stops it with a message
naming the line instead of failing every request; it then renders every chat prompt
(engine.chat_prompt), as the tokenizer's own would have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paste.errors import InvalidArgumentError


def load_chat_template(value: str) -> str:
    """The template text of `value` (a file, or the template itself); InvalidArgumentError
    for a file that cannot be read, a value that is neither, or a template that does not
    parse."""
    path = Path(value)
    if "{" not in value:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(
                f"--chat-template {value!r} is neither a readable file nor a template: "
                f"{exc}") from None
    else:
        text = value
    import jinja2

    try:
        jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidArgumentError(
            f"--chat-template does not parse: {exc.message} (line {exc.lineno})") from None
    return text


def use_chat_template(engine: Any, text: str) -> None:
    """Make `text` the template engine.chat_prompt renders with (the engine's tokenizer's)."""
    engine.tokenizer.chat_template = text
