"""vLLM engine flags without a paste knob of their own (cli/vllm_flags.py) and vLLM's
human-readable sizes: a vLLM command line runs unchanged where paste means the same, and a
value paste does not have is refused naming the flag."""

from __future__ import annotations

import argparse

import pytest

from paste.cli import build_parser, main
from paste.cli.engine_args import engine_options, human_int
from paste.errors import InvalidArgumentError


def options(*flags: str) -> dict[str, object]:
    return engine_options(build_parser().parse_args(["serve", "m", *flags]))


def test_a_vllm_command_line_runs_with_exactly_the_overrides_paste_has():
    assert options(
        "-tp", "1", "-pp", "1", "-dp", "1", "--distributed-executor-backend", "mp",
        "--disable-custom-all-reduce", "--trust-remote-code", "--enforce-eager",
        "--max-seq-len-to-capture", "8192", "--cuda-graph-sizes", "1", "2", "4", "-O", "3",
        "--enable-chunked-prefill", "--disable-sliding-window", "--swap-space", "4",
        "--preemption-mode", "recompute", "--scheduling-policy", "priority",
        "--load-format", "safetensors", "--kv-cache-dtype", "auto", "--max-model-len", "32K",
        "--max-num-batched-tokens", "8k", "--num-gpu-blocks-override", "100",
    ) == {"max_model_len": 32768, "max_num_batched_tokens": 8000, "num_blocks": 100}
    assert options("--compilation-config", '{"level": 3}', "--load-format", "auto") == {}
    assert options("--pipeline-parallel-size", "1", "--data-parallel-size", "1") == {}


@pytest.mark.parametrize(("flags", "message"), [
    (("-pp", "2"), "--pipeline-parallel-size must be 1 (paste runs a model on one device), "
                   "got 2"),
    (("--data-parallel-size", "4"), "--data-parallel-size must be 1 (paste runs a model on "
                                    "one device), got 4"),
    (("--preemption-mode", "swap"), "--preemption-mode swap is not supported: paste "
                                    "recomputes a preempted sequence, it never swaps it out"),
    (("--scheduling-policy", "fcfs"), "--scheduling-policy fcfs is not supported: paste "
                                      "always schedules by request priority"),
    (("--kv-cache-dtype", "fp8"), "--kv-cache-dtype fp8 is not supported: paste stores the "
                                  "KV cache in the model's dtype (auto)"),
    (("--load-format", "gguf"), "--load-format gguf is not supported: paste loads "
                                "safetensors checkpoints (auto or safetensors)"),
    (("-q", "awq"), "--quantization awq is not supported: paste runs unquantized checkpoints"),
    (("--num-gpu-blocks-override", "8", "--num-blocks", "9"),
     "--num-gpu-blocks-override and --num-blocks set the same knob: give one"),
])
def test_a_value_paste_does_not_have_is_a_typed_error_naming_the_flag(flags, message, capsys):
    with pytest.raises(InvalidArgumentError) as info:
        options(*flags)
    assert str(info.value).startswith(message)
    assert main(["serve", "m", *flags]) == 2  # before any model is looked up
    assert capsys.readouterr().err.startswith(f"error: {message}")


@pytest.mark.parametrize(("text", "value"), [
    ("4096", 4096), ("32k", 32000), ("32K", 32768), ("25.6k", 25600), ("1m", 10**6),
    ("1M", 2**20), ("2g", 2 * 10**9), ("1G", 2**30), (" 7 ", 7), ("-1", -1),
])
def test_human_readable_sizes_are_vllms(text, value):
    assert human_int(text) == value


@pytest.mark.parametrize("text", ["1.5K", "1.0001k", "k", "32kb", "x", "", "1e3"])
def test_a_size_that_is_not_one_is_refused(text, capsys):
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer or a size such "
                                                         "as 32k"):
        human_int(text)
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["serve", "--max-model-len", text])
    assert exit_info.value.code == 2
    assert "argument --max-model-len: expected an integer or a size" in capsys.readouterr().err
