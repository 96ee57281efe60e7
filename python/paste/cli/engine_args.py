"""Engine flags shared by `paste serve` and `paste generate`: one per EngineConfig field a
deployment tunes (vLLM's names where vLLM has the same knob). A flag left out keeps the
EngineConfig default; values are validated by EngineConfig (a typed error naming the field).

vLLM command lines run unchanged where paste means the same: `--dtype` also takes vLLM's
`auto` (the default: the checkpoint's precision where the device computes it natively,
bfloat16 on a CPU with bf16 units, else float32; engine/dtypes.py), `half` and `float`;
`--max-model-len` and `--max-num-batched-tokens` take vLLM's human-readable sizes (`32k` is
32000, `32K` 32768, `1m` 1000000, `1M` 1048576); `--lora-modules` takes vLLM's name=path or
JSON values (cli/lora_modules.py); vLLM's flags without a paste knob of their own are in
cli/vllm_flags.py."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from paste.cli.lora_modules import parse_lora_modules
from paste.cli.vllm_flags import add_vllm_engine_flags, vllm_engine_options

_DTYPE_ALIASES = {"half": "float16", "float": "float32"}  # vLLM's spellings


def _dtype(value: str) -> str:
    return _DTYPE_ALIASES.get(value, value)


_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30}


def human_int(text: str) -> int:
    """An integer, or vLLM's human-readable size: a number with k/m/g (x 1000, decimals
    allowed: `25.6k`) or K/M/G (x 1024, whole numbers only: `32K`)."""
    text = text.strip()
    unit = text[-1:]
    try:
        if unit in _DECIMAL:
            value = float(text[:-1]) * _DECIMAL[unit]
            if value != int(value):
                raise ValueError
            return int(value)
        if unit in _BINARY:
            return int(text[:-1]) * _BINARY[unit]
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer or a size such as 32k (32000) or 32K (32768), got "
            f"{text!r}") from None


# (flag, EngineConfig field, type, help)
ENGINE_FLAGS: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    ("--device", "device", str, "torch device (default cpu)"),
    ("--dtype", "dtype", _dtype, "auto | float32 | bfloat16 | float16, or vLLM's half | float "
     "(default auto: the checkpoint's precision if the device computes it natively, bfloat16 "
     "on a CPU with bf16 units, else float32)"),
    ("--attention-backend", "attention_backend", str, "cpu | torch | triton | flashinfer | "
     "auto (default auto: by device)"),
    ("--max-model-len", "max_model_len", human_int, "longest sequence, prompt + output "
     "(default 4096; lowered to what the model and the KV cache hold)"),
    ("--max-num-seqs", "max_num_seqs", int, "sequences decoded at once (default 64)"),
    ("--max-num-batched-tokens", "max_num_batched_tokens", human_int,
     "tokens computed per step; longer prefills are chunked (default 2048)"),
    ("--block-size", "block_size", int, "tokens per KV block (default 16)"),
    ("--num-blocks", "num_blocks", int, "KV blocks (default: from --kv-cache-memory-bytes)"),
    ("--kv-cache-memory-bytes", "kv_cache_memory_bytes", int,
     "memory for the KV cache when --num-blocks is not given (default: by device, on a CPU "
     "1 GiB, on CUDA from --gpu-memory-utilization)"),
    ("--gpu-memory-utilization", "gpu_memory_utilization", float,
     "on a CUDA device without a cache size given, the share of its memory the engine may "
     "use: the KV cache gets what the weights and a profile step leave of it (default 0.9; "
     "no effect on a CPU)"),
    ("--max-logprobs", "max_logprobs", int, "most logprob alternatives per token a request "
     "may ask for, output or prompt (default 20; -1: the whole vocabulary)"),
    ("--num-threads", "num_threads", int, "torch intra-op threads (default PASTE_NUM_THREADS)"),
    ("--session-idle-s", "session_idle_s", float, "end a parked conversation (session, "
     "prompt_cache_key) after this many idle seconds (default 600)"),
    ("--num-draft-tokens", "num_draft_tokens", int, "speculative decoding by prompt lookup: "
     "draft tokens verified per step and request (default 0: off)"),
    ("--draft-ngram-max", "draft_ngram_max", int, "longest suffix n-gram a draft is looked up "
     "by (default 4)"),
    ("--draft-ngram-min", "draft_ngram_min", int, "shortest suffix n-gram a draft is looked "
     "up by (default 2)"),
    ("--max-lora-rank", "max_lora_rank", int, "highest rank of a --lora-modules adapter "
     "(default 16)"),
    ("--max-loras", "max_loras", int, "LoRA adapters running at once: a request of one more "
     "waits, and later adapter requests wait behind it (default 0: no bound; vLLM's is 1)"),
)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every engine flag (default None: not given), --[no-]enable-prefix-caching,
    --[no-]tune-matmul and --[no-]adaptive-drafts."""
    group = parser.add_argument_group("engine")
    for flag, field, kind, text in ENGINE_FLAGS:
        group.add_argument(flag, dest=f"engine_{field}", type=kind, default=None, help=text,
                           metavar=field.upper())
    group.add_argument("--enable-prefix-caching", dest="engine_enable_prefix_caching",
                       action=argparse.BooleanOptionalAction, default=None,
                       help="reuse the KV of shared prompt prefixes (default: on)")
    group.add_argument("--tune-matmul", dest="engine_tune_matmul",
                       action=argparse.BooleanOptionalAction, default=None,
                       help="on a CPU, time each linear layer's two matmul orientations at "
                       "load and use the faster per row count (default: on)")
    group.add_argument("--adaptive-drafts", dest="engine_adaptive_drafts",
                       action=argparse.BooleanOptionalAction, default=None,
                       help="with --num-draft-tokens, measure what a step costs per query row "
                       "at load and verify only the drafts worth their rows, from each "
                       "request's acceptance so far (default: on)")
    group.add_argument("--lora-modules", dest="engine_lora_modules", nargs="+", default=None,
                       metavar="NAME=PATH",
                       help="LoRA adapters (PEFT folders) served beside the model: a request "
                       "whose \"model\" is NAME runs with that adapter (vLLM's syntax: "
                       "name=path or a JSON object {\"name\", \"path\"})")
    group.add_argument("--enable-lora", dest="engine_enable_lora", action="store_true",
                       help="vLLM's switch: accepted; --lora-modules alone serves adapters")
    add_vllm_engine_flags(group)


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The EngineConfig overrides the flags gave (only those given, vLLM's renamed ones
    included); InvalidArgumentError for the vLLM values paste does not have
    (cli/vllm_flags.py)."""
    fields = [field for _flag, field, _kind, _text in ENGINE_FLAGS] + [
        "enable_prefix_caching", "tune_matmul", "adaptive_drafts"]
    options = {f: getattr(args, f"engine_{f}") for f in fields
               if getattr(args, f"engine_{f}") is not None}
    options.update(vllm_engine_options(args, options))
    if args.engine_lora_modules:
        options["lora_modules"] = parse_lora_modules(args.engine_lora_modules)
    return options
