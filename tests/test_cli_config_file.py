"""`paste serve --config FILE` (vLLM's YAML flag file) and the positional MODEL of `vllm serve
MODEL`: what reaches the engine and server options, what the command line overrides, and the
typed refusals."""

from __future__ import annotations

import pytest

from paste.cli import build_parser, main
from paste.cli.config_file import with_config_file
from paste.cli.serve_cmd import serve_engine_options, serve_model, server_options
from paste.errors import InvalidArgumentError

FULL = """\
model: smollm2-135m-instruct
port: 8123
served-model-name: [a, b]
max_model_len: 2048
enable-prefix-caching: false
speculative-config: {method: ngram, num_speculative_tokens: 3, prompt_lookup_max: 4}
allowed-origins: ["http://localhost:3000"]
trust-remote-code: true
disable-log-stats: true
log-stats-interval: 2.5
"""


def parse(tmp_path, text: str, *flags: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    parser = build_parser()
    argv = ["serve", "--config", str(path), *flags]
    return with_config_file(parser, argv, parser.parse_args(argv))


def test_each_kind_of_value_reaches_the_options(tmp_path):
    args = parse(tmp_path, FULL)
    assert (args.port, args.served_model_name, serve_model(args)) == (
        8123, ["a", "b"], "smollm2-135m-instruct")
    assert serve_engine_options(args) == {
        "max_model_len": 2048, "enable_prefix_caching": False, "num_draft_tokens": 3,
        "draft_ngram_max": 4, "draft_ngram_min": 4}
    options = server_options(args)
    assert options["allowed_origins"] == ("http://localhost:3000",)
    assert options["log_stats_interval_s"] == 0.0  # disable-log-stats: true
    assert args.trust_remote_code is True
    assert args.config_keys == (
        "model", "port", "served_model_name", "engine_max_model_len",
        "engine_enable_prefix_caching", "speculative_config", "allowed_origins",
        "trust_remote_code", "disable_log_stats", "log_stats_interval")


def test_the_command_line_wins_over_the_file(tmp_path):
    args = parse(tmp_path, FULL, "--port", "9000", "--enable-prefix-caching", "other-model",
                 "--served-model-name", "c")
    assert (args.port, args.served_model_name, serve_model(args)) == (9000, ["c"], "other-model")
    assert serve_engine_options(args)["enable_prefix_caching"] is True


def test_a_switch_set_false_is_the_switch_not_given(tmp_path):
    args = parse(tmp_path, "trust-remote-code: false\nspeculation: false\nkv_retention: true\n")
    assert (args.trust_remote_code, args.enable_speculation, args.kv_retention) == (
        False, False, True)
    assert parse(tmp_path, "").config_keys == ()  # an empty file changes nothing
    assert parse(tmp_path, "served-model-name: one\n").served_model_name == ["one"]


@pytest.mark.parametrize(("text", "message"), [
    ("no-such-flag: 1\n", "unknown key 'no-such-flag' (not a flag of paste serve)"),
    ("config: other.yaml\n", "unknown key 'config'"),
    ("help: true\n", "unknown key 'help'"),
    ("no-enable-prefix-caching: true\n", "unknown key 'no-enable-prefix-caching'"),
    ("trust-remote-code: 1\n", "'trust-remote-code' is a switch: true or false, got 1"),
    ("speculation: yes-please\n", "'speculation' is a switch: true or false, got 'yes-please'"),
    ("port: eighty\n", "'port': invalid literal for int() with base 10: 'eighty'"),
    ("allowed-origins: [1]\n", "'allowed-origins': expected a JSON array of non-empty strings"),
    ("max-waste-ratio: -1\n", "'max-waste-ratio': expected a finite number >= 0 or 'none'"),
    ("port:\n", "'port' has no value"),
    ("served-model-name: []\n", "'served-model-name' needs at least one value"),
    ("- port\n- 8000\n", "must be a YAML mapping of flag names to values, got list"),
    ("port: [\n", "is not YAML"),
])
def test_a_bad_file_is_a_typed_error_naming_the_key(tmp_path, text, message):
    with pytest.raises(InvalidArgumentError) as info:
        parse(tmp_path, text)
    assert message in str(info.value)
    assert str(info.value).startswith(("--config ", "cannot read --config "))


def test_main_refuses_a_bad_or_missing_file_before_serving(tmp_path, capsys):
    assert main(["serve", "--config", str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: cannot read --config '{tmp_path}/none.yaml'")
    (tmp_path / "tp.yaml").write_text("tensor-parallel-size: 2\n")
    assert main(["serve", "--config", str(tmp_path / "tp.yaml")]) == 2
    assert capsys.readouterr().err == ("error: --tensor-parallel-size must be 1 (paste runs a "
                                       "model on one device), got 2\n")
    (tmp_path / "bad.yaml").write_text("max-model-len: 0\n")
    assert main(["serve", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "max_model_len must be positive, got 0" in capsys.readouterr().err


def test_the_positional_model_is_the_model_flag_and_must_agree_with_it(tmp_path, capsys):
    def model(*argv: str) -> str | None:
        return serve_model(build_parser().parse_args(["serve", *argv]))

    assert model("m") == "m" == model("--model", "m") == model("m", "--model", "m")
    assert model() is None  # the default model
    with pytest.raises(InvalidArgumentError, match="two models given: 'a' .positional. and "
                                                   "--model 'b'; give one"):
        model("a", "--model", "b")
    assert main(["serve", "a", "--model", "b"]) == 2
    assert capsys.readouterr().err == (
        "error: two models given: 'a' (positional) and --model 'b'; give one\n")
    assert main(["serve", "no-such-model-xyz"]) == 2  # the positional reaches the registry
    assert "unknown model 'no-such-model-xyz'" in capsys.readouterr().err
    # a file's model gives way to the positional one
    assert serve_model(parse(tmp_path, "model: from-file\n", "positional")) == "positional"
    assert serve_model(parse(tmp_path, "model: from-file\n")) == "from-file"
