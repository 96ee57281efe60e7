"""EngineConfig: every knob of one engine, validated once."""

from __future__ import annotations

from dataclasses import dataclass

from paste.errors import InvalidArgumentError


@dataclass(frozen=True)
class EngineConfig:
    """Configuration of one Engine.

    model: a registry name (`paste models list`) or a HF-format folder.
    num_blocks: KV blocks; 0 = from kv_cache_memory_bytes, else by device
        (engine/kv_sizing.py).
    kv_cache_memory_bytes: memory for the KV cache; None = by device: on CUDA,
        gpu_memory_utilization of the device's memory less the weights and a profile step's
        activations (vLLM's rule), on a CPU 1 GiB.
    gpu_memory_utilization: on a CUDA device, the share of its memory the engine may use
        (weights, activations and KV cache) when no cache size is given; no effect on a CPU.
    max_num_batched_tokens: token budget of one step (chunked prefill above it).
    dtype: "auto" runs the checkpoint's own precision where the device computes it natively
        (bfloat16 on a CPU with bf16 units), else float32 (paste.engine.dtypes).
    attention_backend: "auto" resolves by device (see paste.engine.attention).
    num_threads: torch intra-op threads; 0 = PASTE_NUM_THREADS.
    session_idle_s: a session (session_key / prompt_cache_key) whose sequence has waited
        parked this long without a next turn is ended (its KV freed, its key forgotten), so
        keys that clients never end do not pile up.
    num_draft_tokens: speculative decoding by prompt lookup (vLLM's "ngram" method): a
        decoding request may carry up to this many draft tokens per step, copied from what
        followed the latest earlier occurrence of its last draft_ngram_max .. draft_ngram_min
        tokens, all verified in one forward (engine/drafts.py); 0 = off.
    adaptive_drafts: with num_draft_tokens, the cost of a step per query row count is
        measured at load (engine/step_costs.py) and each step keeps, of the prompt-lookup
        drafts, the lengths of highest expected tokens per step cost given each request's
        acceptance so far (csrc/include/paste/draft_policy.h); off = every proposed draft is
        verified.
    tune_matmul: on a CPU, each linear layer's matmul orientation is measured per row count
        at load and the faster used (engine/models/tuned_linear.py); off = plain F.linear.
    max_logprobs: the most alternatives per token a request may ask for, as output logprobs
        or prompt logprobs (vLLM's --max-logprobs; -1 = the whole vocabulary).
    lora_modules: LoRA adapters (PEFT folders) served beside the base model, as (name, path)
        pairs; a request names one in GenerationParams.lora (engine/lora.py).
    max_lora_rank: the highest adapter rank loaded (vLLM's --max-lora-rank); a higher one
        fails the engine's start.
    max_loras: at most this many distinct adapters run at once, hence share a step (vLLM's
        --max-loras); a request of one more waits, and no later adapter request overtakes it
        (base-model requests do) (csrc/include/paste/batch_loop.h). 0 = no bound (vLLM's
        default is 1: one paste step may mix adapters, each costing its rows only).
    """

    model: str = ""
    device: str = "cpu"
    dtype: str = "auto"
    block_size: int = 16
    num_blocks: int = 0
    kv_cache_memory_bytes: int | None = None
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int = 64
    max_num_batched_tokens: int = 2048
    max_model_len: int = 4096
    enable_prefix_caching: bool = True
    attention_backend: str = "auto"
    num_threads: int = 0
    seed: int | None = 0
    session_idle_s: float = 600.0
    num_draft_tokens: int = 0
    draft_ngram_min: int = 2
    draft_ngram_max: int = 4
    adaptive_drafts: bool = True
    tune_matmul: bool = True
    max_logprobs: int = 20
    lora_modules: tuple[tuple[str, str], ...] = ()
    max_lora_rank: int = 16
    max_loras: int = 0

    def __post_init__(self) -> None:
        for name in (
            "block_size",
            "max_num_seqs",
            "max_num_batched_tokens",
            "max_model_len",
            "max_lora_rank",
        ):
            if getattr(self, name) <= 0:
                raise InvalidArgumentError(f"{name} must be positive, got {getattr(self, name)}")
        if self.kv_cache_memory_bytes is not None and self.kv_cache_memory_bytes <= 0:
            raise InvalidArgumentError(
                f"kv_cache_memory_bytes must be positive, got {self.kv_cache_memory_bytes}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise InvalidArgumentError("gpu_memory_utilization must be in (0, 1], got "
                                       f"{self.gpu_memory_utilization}")
        if not self.session_idle_s > 0:
            raise InvalidArgumentError(f"session_idle_s must be > 0, got {self.session_idle_s}")
        if self.max_logprobs < -1:
            raise InvalidArgumentError(
                f"max_logprobs must be >= 0, or -1 for the whole vocabulary, got "
                f"{self.max_logprobs}")
        if self.num_draft_tokens < 0:
            raise InvalidArgumentError(
                f"num_draft_tokens must be >= 0, got {self.num_draft_tokens}")
        if not 1 <= self.draft_ngram_min <= self.draft_ngram_max:
            raise InvalidArgumentError(
                "need 1 <= draft_ngram_min <= draft_ngram_max, got "
                f"{self.draft_ngram_min} and {self.draft_ngram_max}")
        if self.num_blocks < 0 or self.num_threads < 0:
            raise InvalidArgumentError("num_blocks and num_threads must be >= 0")
        if self.max_loras < 0:
            raise InvalidArgumentError(
                f"max_loras must be >= 0 (0 = no bound), got {self.max_loras}")
        names = [name for name, _path in self.lora_modules]
        for name in names:
            if names.count(name) > 1:
                raise InvalidArgumentError(f"LoRA adapter name {name!r} is given twice")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise InvalidArgumentError(
                f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}"
            )
