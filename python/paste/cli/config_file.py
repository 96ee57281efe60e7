"""vLLM's `--config FILE`: a sub-command's flags from a YAML mapping.

Each key is a flag's long name without the dashes (`max-model-len`, or vLLM's `max_model_len`
spelling), each value what the flag takes: a scalar as its command-line text, a list for a
flag that takes several values (`served-model-name: [a, b]`), a list or mapping as JSON for a
flag whose value is JSON (`speculative-config: {method: ngram, ...}`, `allowed-origins: ["*"]`),
true/false for a switch (`enable-prefix-caching: false` is --no-enable-prefix-caching). The
values become the sub-command's defaults, so a flag also given on the command line wins, as in
vLLM. An unknown key, a value of the wrong shape, or a file that is not a YAML mapping is an
InvalidArgumentError naming the file and the key; nothing starts.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from paste.errors import InvalidArgumentError


def with_config_file(parser: argparse.ArgumentParser, argv: Sequence[str],
                     args: argparse.Namespace) -> argparse.Namespace:
    """`args` parsed again with the defaults of `args.config`'s file (`argv` is what `parser`
    parsed; the command's sub-parser gets the defaults). The result's `config_keys` names the
    destinations the file set."""
    path = args.config
    sub = _subparser(parser, args.command)
    values = load_yaml_mapping(path)
    defaults: dict[str, Any] = {}
    for key, value in values.items():
        action = _action(sub, key, path)
        defaults[action.dest] = _value(action, key, value, path)
    sub.set_defaults(**defaults)
    out = parser.parse_args(list(argv))
    out.config_keys = tuple(defaults)
    return out


def load_yaml_mapping(path: str) -> dict[str, Any]:
    """The YAML mapping in the file `path` (an empty file is an empty mapping)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read --config {path!r}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidArgumentError(f"--config {path!r} is not YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise InvalidArgumentError(
            f"--config {path!r} must be a YAML mapping of flag names to values, got "
            f"{type(data).__name__}")
    return data


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]  # type: ignore[no-any-return]
    raise AssertionError("the paste parser has sub-commands")


def _action(sub: argparse.ArgumentParser, key: str, path: str) -> argparse.Action:
    flag = "--" + key.replace("_", "-")
    action = sub._option_string_actions.get(flag)
    if action is None or flag in ("--config", "--help") or flag.startswith("--no-"):
        raise InvalidArgumentError(
            f"--config {path!r}: unknown key {key!r} (not a flag of paste {sub.prog.split()[-1]})")
    return action


def _value(action: argparse.Action, key: str, value: Any, path: str) -> Any:
    where = f"--config {path!r}: {key!r}"
    if action.nargs == 0:  # a switch: given (true) or not (false)
        if not isinstance(value, bool):
            raise InvalidArgumentError(f"{where} is a switch: true or false, got {value!r}")
        if isinstance(action, argparse.BooleanOptionalAction):
            return value
        return action.const if value else action.default
    if action.nargs in ("+", "*"):
        items = value if isinstance(value, list) else [value]
        if not items and action.nargs == "+":
            raise InvalidArgumentError(f"{where} needs at least one value")
        return [_one(action, where, item) for item in items]
    return _one(action, where, value)


def _one(action: argparse.Action, where: str, value: Any) -> Any:
    if value is None:
        raise InvalidArgumentError(f"{where} has no value")
    if isinstance(value, (dict, list)):
        text = json.dumps(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    try:
        out = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"{where}: {exc}") from None
    if action.choices is not None and out not in action.choices:
        raise InvalidArgumentError(
            f"{where} must be one of {', '.join(map(str, action.choices))}, got {out!r}")
    return out
