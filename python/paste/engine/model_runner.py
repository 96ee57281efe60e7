"""ModelRunner: turns one StepPlan into logits with paste's model code and paged KV cache.

Owns the model weights, the KV cache tensors (one per layer, see models/kv_cache.py) and the
tokenizer of one model folder, and its LoRA adapters (`lora`, a LoraRuntime, or None).
`forward(plan)` builds the step's AttentionMetadata from the plan's flat arrays (one
host->device conversion per step), runs the model over the T query tokens and returns float32
logits for the m rows of plan.logits_indices only.
`forward_scoring(plan)` also returns the hidden states of the prompt rows the plan lists for
prompt logprobs (plan.prompt_logits_indices), for `logits(hidden)` to score in slices.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paste.engine.config import EngineConfig
from paste.engine.dtypes import DTYPES, resolve_dtype
from paste.engine.kv_sizing import kv_cache_blocks, memory_probe, profile_step
from paste.engine.lora import load_adapter
from paste.engine.lora_runtime import LoraRuntime
from paste.engine.models import (
    AttentionMetadata,
    ModelConfig,
    allocate_kv_cache,
    kv_cache_bytes_per_block,
    load_model,
)
from paste.engine.models.tuned_linear import tune_linears
from paste.errors import InvalidArgumentError

_NO_ROWS = np.zeros(0, dtype=np.int32)  # forward(): no prompt rows kept


def load_tokenizer(folder: Path) -> Any:
    """The HF tokenizer saved with the model (offline; the folder holds every file)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class ModelRunner:
    """Model + KV cache + tokenizer of one engine. Used by the engine thread only."""

    def __init__(self, folder: Path, config: EngineConfig) -> None:
        self.folder = Path(folder)
        self.device = resolve_device(config.device)
        self.model_config = ModelConfig.from_folder(self.folder)
        self.dtype_name = resolve_dtype(config.dtype, self.model_config.checkpoint_dtype,
                                        self.device)
        self.dtype = DTYPES[self.dtype_name]
        self.block_size = config.block_size
        probe = memory_probe(self.device, config.num_blocks, config.kv_cache_memory_bytes)
        if probe is not None:
            probe.start()
        self.model = load_model(
            self.folder, backend=config.attention_backend, device=self.device, dtype=self.dtype
        )
        # On a CPU, each linear layer's matmul orientation per row count (tuned_linear.py).
        started = time.perf_counter()
        self.linear_plans = tune_linears(self.model) if config.tune_matmul else {}
        self.tune_seconds = time.perf_counter() - started
        self.backend_name = getattr(self.model.backend, "name", type(self.model.backend).__name__)
        use = None
        if probe is not None:  # size the cache from what the device has left (kv_sizing.py)
            probe.loaded()
            profile_step(self.model, self.model_config, block_size=config.block_size,
                         num_tokens=min(config.max_num_batched_tokens, config.max_model_len,
                                        self.max_positions),
                         num_rows=config.max_num_seqs, dtype=self.dtype, device=self.device)
            use = probe.finish()
        per_block = kv_cache_bytes_per_block(self.model_config, config.block_size, self.dtype)
        self.num_blocks = kv_cache_blocks(
            num_blocks=config.num_blocks, kv_cache_memory_bytes=config.kv_cache_memory_bytes,
            per_block=per_block, utilization=config.gpu_memory_utilization, use=use)
        self.kv_caches = allocate_kv_cache(
            self.model_config,
            num_blocks=self.num_blocks,
            block_size=config.block_size,
            dtype=self.dtype,
            device=self.device,
        )
        self.tokenizer = load_tokenizer(self.folder)
        self.vocab_size = self.model_config.vocab_size
        # LoRA adapters (engine/lora.py), hooked in after tuning and sizing (base-model runs)
        self.lora = LoraRuntime(self.model, [
            load_adapter(name, path, self.model, config.max_lora_rank)
            for name, path in config.lora_modules]) if config.lora_modules else None

    @property
    def max_positions(self) -> int:
        return int(self.model_config.max_position_embeddings)

    @torch.inference_mode()
    def forward(self, plan: Any) -> torch.Tensor:
        """Float32 logits [m, vocab] for plan.logits_indices (m may be 0)."""
        return self.forward_scoring(plan, _NO_ROWS)[0]

    @torch.inference_mode()
    def forward_scoring(self, plan: Any, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """forward(plan)'s logits, and the hidden states [len(rows), hidden] of the plan's
        token rows `rows` (plan.prompt_logits_indices), left for `logits` to score."""
        if plan.num_tokens == 0:
            return (torch.empty((0, self.vocab_size), dtype=torch.float32),
                    torch.empty((0, 0), dtype=self.dtype))
        meta = AttentionMetadata.build(
            block_size=self.block_size,
            positions=plan.positions,
            slot_mapping=plan.slot_mapping,
            query_start_loc=plan.query_start_loc,
            seq_lens=plan.seq_lens,
            num_computed_tokens=plan.num_computed_tokens,
            kv_indptr=plan.kv_indptr,
            kv_indices=plan.kv_indices,
            kv_last_page_len=plan.kv_last_page_len,
            logits_indices=plan.logits_indices,
            device=self.device,
        )
        input_ids = torch.from_numpy(plan.input_ids.astype(np.int64)).to(self.device)
        if int(input_ids.max()) >= self.vocab_size:
            raise InvalidArgumentError(
                f"token id {int(input_ids.max())} >= vocab {self.vocab_size}"
            )
        hidden = self.model(input_ids, self.kv_caches, meta)
        kept = (hidden[torch.from_numpy(rows.astype(np.int64)).to(self.device)] if len(rows)
                else hidden[:0])  # a plain step: no index tensor, no copy
        if meta.logits_indices.numel() == 0:
            return torch.empty((0, self.vocab_size), dtype=torch.float32), kept
        return self.model.compute_logits(hidden[meta.logits_indices]), kept

    @torch.inference_mode()
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Float32 logits [r, vocab] of hidden states [r, hidden] (forward_scoring's)."""
        return self.model.compute_logits(hidden)
