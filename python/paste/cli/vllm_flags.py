"""Engine flags of `vllm serve` command lines that have no paste knob of their own, so such a
command line runs unchanged where paste means the same, and is refused naming the flag where
it cannot.

- Parallelism: `--tensor-parallel-size/-tp`, `--pipeline-parallel-size/-pp` and
  `--data-parallel-size/-dp` take 1 (paste runs a model on one device);
  `--distributed-executor-backend` and `--disable-custom-all-reduce` then change nothing.
- What paste always does: `--trust-remote-code` (paste runs only its own model code, never
  code from a model folder), `--enforce-eager`, `--max-seq-len-to-capture`,
  `--cuda-graph-sizes`, `--compilation-config/-O` (it runs the model eagerly: no CUDA graphs, no
  compilation), `--enable-chunked-prefill` (long prefills are always chunked),
  `--disable-sliding-window` (a sliding-window model's context is capped at its window),
  `--swap-space` and `--preemption-mode recompute` (a preempted sequence is recomputed, never
  swapped), `--scheduling-policy priority` (requests' `priority` always orders the queue),
  `--load-format auto|safetensors` (checkpoints are safetensors).
- Renamed: `--num-gpu-blocks-override N` is `--num-blocks N`; `--speculative-config` with
  vLLM's ngram method is paste's prompt-lookup drafting (cli/speculative_config.py).
- Refused: `--kv-cache-dtype` other than auto (the cache is kept in the model's dtype),
  `--quantization` (unquantized checkpoints only), `--preemption-mode swap`,
  `--scheduling-policy fcfs`, another `--load-format`.
"""

from __future__ import annotations

import argparse
from typing import Any

from paste.cli.speculative_config import speculative_options
from paste.errors import InvalidArgumentError

_PARALLEL = (("--tensor-parallel-size", "-tp"), ("--pipeline-parallel-size", "-pp"),
             ("--data-parallel-size", "-dp"))
# (flag, help) of switches that change nothing
_NO_OP_SWITCHES = (
    ("--trust-remote-code", "paste runs only its own model code, never code from a model "
     "folder"),
    ("--enforce-eager", "paste always runs the model eagerly (it captures no CUDA graphs)"),
    ("--enable-chunked-prefill", "paste always chunks prefills longer than "
     "--max-num-batched-tokens"),
    ("--disable-sliding-window", "paste caps a sliding-window model's context at its window"),
    ("--disable-custom-all-reduce", "paste runs a model on one device"),
)
# (flag, metavar, help) of valued flags that change nothing
_NO_OP_VALUES = (
    ("--swap-space", "GIB", "a preempted sequence is recomputed, never swapped to host "
     "memory"),
    ("--distributed-executor-backend", "NAME", "paste runs a model on one device, in one "
     "process"),
    ("--max-seq-len-to-capture", "N", "paste captures no CUDA graphs"),
    ("--compilation-config", "LEVEL|JSON", "paste runs the model eagerly, uncompiled"),
)
# (flag, the one value paste has, why another is refused)
_ONE_VALUE = (
    ("--kv-cache-dtype", "auto", "paste stores the KV cache in the model's dtype (auto)"),
    ("--preemption-mode", "recompute", "paste recomputes a preempted sequence, it never "
     "swaps it out"),
    ("--scheduling-policy", "priority", "paste always schedules by request priority (and "
     "boosts sessions returning from tools: --no-coscheduling turns that off)"),
)
_LOAD_FORMATS = ("auto", "safetensors")


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_vllm_engine_flags(group: argparse._ArgumentGroup) -> None:
    """Add the flags above to an engine argument group."""
    for long, short in _PARALLEL:
        group.add_argument(long, short, dest=_dest(long), type=int, default=None, metavar="N",
                           help="vLLM's flag: paste runs a model on one device, so only 1")
    for flag, why in _NO_OP_SWITCHES:
        group.add_argument(flag, dest=_dest(flag), action="store_true",
                           help=f"accepted for vLLM command lines: {why}")
    for flag, metavar, why in _NO_OP_VALUES:
        group.add_argument(flag, dest=_dest(flag), default=None, metavar=metavar,
                           help=f"accepted for vLLM command lines and changes nothing: {why}")
    group.add_argument("-O", dest=_dest("--compilation-config"), default=None,
                       metavar="LEVEL|JSON", help="vLLM's short --compilation-config")
    group.add_argument("--cuda-graph-sizes", dest=_dest("--cuda-graph-sizes"), nargs="+",
                       default=None, metavar="N", help="accepted for vLLM command lines and "
                       "changes nothing: paste captures no CUDA graphs")
    for flag, value, why in _ONE_VALUE:
        group.add_argument(flag, dest=_dest(flag), default=value, metavar=value.upper(),
                           help=f"vLLM's flag: only {value} ({why})")
    group.add_argument("--load-format", dest=_dest("--load-format"), default="auto",
                       metavar="FORMAT", help="vLLM's flag: auto or safetensors (paste loads "
                       "safetensors checkpoints)")
    group.add_argument("--quantization", "-q", dest=_dest("--quantization"), default=None,
                       metavar="METHOD", help="vLLM's flag: paste runs unquantized "
                       "checkpoints only, so any method is an error")
    group.add_argument("--num-gpu-blocks-override", dest=_dest("--num-gpu-blocks-override"),
                       type=int, default=None, metavar="N",
                       help="vLLM's flag: the same as --num-blocks")
    group.add_argument("--speculative-config", dest=_dest("--speculative-config"),
                       default=None, metavar="JSON",
                       help="vLLM's flag, for its ngram method (paste's prompt-lookup "
                       "drafts): '{\"method\": \"ngram\", \"num_speculative_tokens\": 3, "
                       "\"prompt_lookup_max\": 4}' is --num-draft-tokens 3 --draft-ngram-max 4 "
                       "--draft-ngram-min 4 (cli/speculative_config.py)")


def vllm_engine_options(args: argparse.Namespace, given: dict[str, Any]) -> dict[str, Any]:
    """The EngineConfig overrides these flags make, beside `given` (the paste flags' own);
    InvalidArgumentError for a value paste does not have or a knob set twice."""
    for long, _short in _PARALLEL:
        size = getattr(args, _dest(long))
        if size is not None and size != 1:
            raise InvalidArgumentError(
                f"{long} must be 1 (paste runs a model on one device), got {size}")
    for flag, value, why in _ONE_VALUE:
        if getattr(args, _dest(flag)) != value:
            raise InvalidArgumentError(
                f"{flag} {getattr(args, _dest(flag))} is not supported: {why}")
    load_format = getattr(args, _dest("--load-format"))
    if load_format not in _LOAD_FORMATS:
        raise InvalidArgumentError(
            f"--load-format {load_format} is not supported: paste loads safetensors "
            "checkpoints (auto or safetensors)")
    quantization = getattr(args, _dest("--quantization"))
    if quantization is not None:
        raise InvalidArgumentError(
            f"--quantization {quantization} is not supported: paste runs unquantized "
            "checkpoints (float32, bfloat16 or float16 weights)")
    out: dict[str, Any] = {}
    blocks = getattr(args, _dest("--num-gpu-blocks-override"))
    if blocks is not None:
        if "num_blocks" in given:
            raise InvalidArgumentError(
                "--num-gpu-blocks-override and --num-blocks set the same knob: give one")
        out["num_blocks"] = blocks
    out.update(speculative_options(getattr(args, _dest("--speculative-config")), given))
    return out
