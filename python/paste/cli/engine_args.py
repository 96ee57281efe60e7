"""Engine flags shared by `paste serve` and `paste generate`: one per EngineConfig field a
deployment tunes (vLLM's names where vLLM has the same knob). A flag left out keeps the
EngineConfig default; values are validated by EngineConfig (a typed error naming the field).

vLLM command lines run unchanged where paste means the same: `--dtype` also takes vLLM's
`auto` (the default: the checkpoint's precision where the device computes it natively,
bfloat16 on a CPU with bf16 units, else float32; engine/dtypes.py), `half` and `float`;
`--tensor-parallel-size` / `-tp` takes 1 (paste runs a model on one device; more is a typed
error);
`--trust-remote-code`, `--enforce-eager`, `--swap-space` and `--enable-chunked-prefill` are
accepted and change nothing (paste runs only its own model code, never code from a model
folder, runs it eagerly: no CUDA graphs, recomputes a preempted sequence and always chunks long
prefills); `--kv-cache-dtype` takes only auto and `--quantization` nothing: a typed error
says so. `--speculative-config` takes vLLM's ngram method, paste's prompt-lookup drafts
(cli/speculative_config.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from paste.cli.speculative_config import speculative_options
from paste.errors import InvalidArgumentError

_DTYPE_ALIASES = {"half": "float16", "float": "float32"}  # vLLM's spellings


def _dtype(value: str) -> str:
    return _DTYPE_ALIASES.get(value, value)

# (flag, EngineConfig field, type, help)
ENGINE_FLAGS: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    ("--device", "device", str, "torch device (default cpu)"),
    ("--dtype", "dtype", _dtype, "auto | float32 | bfloat16 | float16, or vLLM's half | float "
     "(default auto: the checkpoint's precision if the device computes it natively, bfloat16 "
     "on a CPU with bf16 units, else float32)"),
    ("--attention-backend", "attention_backend", str, "cpu | torch | triton | flashinfer | "
     "auto (default auto: by device)"),
    ("--max-model-len", "max_model_len", int, "longest sequence, prompt + output "
     "(default 4096; lowered to what the model and the KV cache hold)"),
    ("--max-num-seqs", "max_num_seqs", int, "sequences decoded at once (default 64)"),
    ("--max-num-batched-tokens", "max_num_batched_tokens", int,
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
    ("--num-threads", "num_threads", int, "torch intra-op threads (default PASTE_NUM_THREADS)"),
    ("--session-idle-s", "session_idle_s", float, "end a parked conversation (session, "
     "prompt_cache_key) after this many idle seconds (default 600)"),
    ("--num-draft-tokens", "num_draft_tokens", int, "speculative decoding by prompt lookup: "
     "draft tokens verified per step and request (default 0: off)"),
    ("--draft-ngram-max", "draft_ngram_max", int, "longest suffix n-gram a draft is looked up "
     "by (default 4)"),
    ("--draft-ngram-min", "draft_ngram_min", int, "shortest suffix n-gram a draft is looked "
     "up by (default 2)"),
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
    group.add_argument("--tensor-parallel-size", "-tp", dest="engine_tensor_parallel_size",
                       type=int, default=None, metavar="N",
                       help="vLLM's flag: paste runs a model on one device, so only 1")
    group.add_argument("--trust-remote-code", action="store_true",
                       help="accepted for vLLM command lines: paste runs only its own model "
                       "code, never code from a model folder")
    group.add_argument("--enforce-eager", action="store_true",
                       help="accepted for vLLM command lines: paste always runs the model "
                       "eagerly (it captures no CUDA graphs)")
    group.add_argument("--kv-cache-dtype", default="auto", metavar="DTYPE",
                       help="vLLM's flag: only auto (the KV cache is stored in the model's "
                       "dtype; an fp8 cache is not supported)")
    group.add_argument("--quantization", "-q", default=None, metavar="METHOD",
                       help="vLLM's flag: paste runs unquantized checkpoints only, so any "
                       "method is an error")
    group.add_argument("--swap-space", type=float, default=None, metavar="GIB",
                       help="accepted for vLLM command lines and changes nothing: a preempted "
                       "sequence is recomputed, never swapped to host memory")
    group.add_argument("--speculative-config", default=None, metavar="JSON",
                       help="vLLM's flag, for its ngram method (paste's prompt-lookup drafts): "
                       "'{\"method\": \"ngram\", \"num_speculative_tokens\": 3, "
                       "\"prompt_lookup_max\": 4}' is --num-draft-tokens 3 --draft-ngram-max 4 "
                       "--draft-ngram-min 4 (cli/speculative_config.py)")
    group.add_argument("--enable-chunked-prefill", action="store_true",
                       help="accepted for vLLM command lines: paste always chunks prefills "
                       "longer than --max-num-batched-tokens")


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The EngineConfig overrides the flags gave (only those given, --speculative-config's
    included); InvalidArgumentError for a tensor-parallel size other than 1 and the other
    vLLM values paste does not have."""
    tp = args.engine_tensor_parallel_size
    if tp is not None and tp != 1:
        raise InvalidArgumentError(
            f"--tensor-parallel-size must be 1 (paste runs a model on one device), got {tp}")
    if args.kv_cache_dtype != "auto":
        raise InvalidArgumentError(
            f"--kv-cache-dtype {args.kv_cache_dtype} is not supported: paste stores the KV cache "
            "in the model's dtype (auto)")
    if args.quantization is not None:
        raise InvalidArgumentError(
            f"--quantization {args.quantization} is not supported: paste runs unquantized "
            "checkpoints (float32, bfloat16 or float16 weights)")
    fields = [field for _flag, field, _kind, _text in ENGINE_FLAGS] + [
        "enable_prefix_caching", "tune_matmul", "adaptive_drafts"]
    options = {f: getattr(args, f"engine_{f}") for f in fields
               if getattr(args, f"engine_{f}") is not None}
    options.update(speculative_options(args.speculative_config, options))
    return options
