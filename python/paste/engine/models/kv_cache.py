"""Allocation of the paged KV cache: one tensor per layer.

Layout of one layer's cache (K and V planes first, so each plane is a contiguous
[num_blocks, block_size, num_kv_heads, head_dim] tensor, FlashInfer's "NHD" paged layout):

    cache[layer] : [2, num_blocks, block_size, num_kv_heads, head_dim]
                    |      |           |
                    |      |           +-- offset inside the block (slot % block_size)
                    |      +-- block_id (slot // block_size), shared id space with BlockManager
                    +-- 0 = K, 1 = V

    flat view of one plane: plane.view(num_blocks * block_size, num_kv_heads, head_dim)[slot]

A slot is block_id * block_size + offset, as in the plan's slot_mapping.
"""

from __future__ import annotations

import torch

from paste.engine.models.config import ModelConfig
from paste.errors import InvalidArgumentError


def kv_cache_bytes_per_block(config: ModelConfig, block_size: int, dtype: torch.dtype) -> int:
    """Bytes one block occupies across all layers (K and V)."""
    element = torch.empty((), dtype=dtype).element_size()
    per_layer = 2 * block_size * config.num_key_value_heads * config.head_dim * element
    return per_layer * config.num_hidden_layers


def allocate_kv_cache(
    config: ModelConfig,
    *,
    num_blocks: int,
    block_size: int,
    dtype: torch.dtype,
    device: torch.device | str,
) -> list[torch.Tensor]:
    """Zeroed KV cache tensors, one per decoder layer, in the layout drawn above.

    Zeroing matters: padding slots of a partially filled block are read (and masked) by the
    kernels, and NaN garbage there would survive a 0 * NaN in some kernels.
    """
    if num_blocks < 1 or block_size < 1:
        raise InvalidArgumentError(
            f"num_blocks and block_size must be >= 1, got {num_blocks}, {block_size}"
        )
    shape = (2, num_blocks, block_size, config.num_key_value_heads, config.head_dim)
    return [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
