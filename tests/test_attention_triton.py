"""Triton KV-store and paged-attention kernels against the torch reference, on CPU tensors
under TRITON_INTERPRET=1.

The interpreter must be chosen before triton is first imported, and other tests in this
process may already have imported it, so the comparisons run in a fresh interpreter process
(the script below) that prints its measurements as JSON; the assertions live here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

if importlib.util.find_spec("triton") is None:
    pytest.skip("triton is not installed", allow_module_level=True)

_SCRIPT = r"""
import json, os, sys
assert os.environ["TRITON_INTERPRET"] == "1" and "triton" not in sys.modules
import torch
torch.set_num_threads(1)
from paste.engine.attention import create_attention_backend
from paste.engine.models.metadata import AttentionMetadata

def case(heads, kv_heads, head_dim, block_size, tables, computed, new, seed):
    torch.manual_seed(seed)
    kw = dict(device="cpu", dtype=torch.float32, num_heads=heads, num_kv_heads=kv_heads,
              head_dim=head_dim)
    tri, ref = create_attention_backend("triton", **kw), create_attention_backend("torch", **kw)
    md = AttentionMetadata.from_block_tables(block_size=block_size, block_tables=tables,
                                             num_computed_tokens=computed, num_new_tokens=new)
    t = md.num_tokens
    k, v, q = torch.randn(t, kv_heads, head_dim), torch.randn(t, kv_heads, head_dim), \
        torch.randn(t, heads, head_dim)
    num_blocks = 1 + max(b for tb in tables for b in tb)
    caches = [torch.randn(num_blocks, block_size, kv_heads, head_dim) for _ in range(2)]
    ref_caches = [c.clone() for c in caches]
    slots = md.slot_mapping.clone()
    slots[0] = -1  # token 0's K/V is not stored: its cached garbage must stay untouched
    tri.plan(md)
    tri.store_kv(k, v, caches[0], caches[1], slots)
    ref.store_kv(k, v, ref_caches[0], ref_caches[1], slots)
    out = tri.forward(q, caches[0], caches[1], md)
    expected = ref.forward(q, ref_caches[0], ref_caches[1], md)
    return {"store_equal": bool(torch.equal(caches[0], ref_caches[0])
                                and torch.equal(caches[1], ref_caches[1])),
            "max_abs_diff": float((out - expected).abs().max())}

results = {
    "mixed_gqa2": case(4, 2, 8, 4, [[3, 1], [0], [5, 6, 2]], [5, 0, 6], [2, 3, 4], 0),
    "gqa3_head_dim_12": case(6, 2, 12, 2, [[7, 0, 5], [1, 2]], [3, 0], [2, 4], 1),
    "decode_only_mha": case(2, 2, 16, 8, [[2, 0], [1]], [9, 4], [1, 1], 2),
}
from paste.errors import InvalidArgumentError
try:
    tri = create_attention_backend("triton", device="cpu", dtype=torch.float32,
                                   num_heads=2, num_kv_heads=1, head_dim=8)
    tri.plan(AttentionMetadata.from_block_tables(block_size=3, block_tables=[[0]],
                                                 num_computed_tokens=[0], num_new_tokens=[2]))
    results["block_size_3"] = "accepted"
except InvalidArgumentError:
    results["block_size_3"] = "rejected"

def tiny_model_logits_diff():
    # a random tiny qwen2 model run with both backends: prefill chunk, then decode
    from paste.engine.models.config import ModelConfig
    from paste.engine.models.kv_cache import allocate_kv_cache
    from paste.engine.models.qwen2 import Qwen2ForCausalLM
    torch.manual_seed(3)
    config = ModelConfig.from_dict(dict(
        model_type="qwen2", vocab_size=64, hidden_size=32, intermediate_size=48,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=16))
    kw = dict(device="cpu", dtype=torch.float32, num_heads=4, num_kv_heads=2, head_dim=8)
    model = Qwen2ForCausalLM(config, create_attention_backend("triton", **kw)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.5)
    ids = torch.randint(0, 64, (7,))
    logits = {}
    for name in ("triton", "torch"):
        model.backend = create_attention_backend(name, **kw)
        caches = allocate_kv_cache(config, num_blocks=4, block_size=4, dtype=torch.float32,
                                   device="cpu")
        rows = []
        for computed, new in ((0, 6), (6, 1)):
            md = AttentionMetadata.from_block_tables(
                block_size=4, block_tables=[[3, 0]], num_computed_tokens=[computed],
                num_new_tokens=[new])
            with torch.no_grad():
                rows.append(model.compute_logits(model(ids[computed:computed + new], caches, md)))
        logits[name] = torch.cat(rows)
    return {"max_abs_diff": float((logits["triton"] - logits["torch"]).abs().max()),
            "logits_std": float(logits["torch"].std())}

results["tiny_qwen2_model"] = tiny_model_logits_diff()
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def interpreted_results() -> dict[str, object]:
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["mixed_gqa2", "gqa3_head_dim_12", "decode_only_mha"])
def test_triton_matches_torch_reference(interpreted_results: dict[str, dict], name: str) -> None:
    result = interpreted_results[name]
    assert result["store_equal"] is True
    assert result["max_abs_diff"] <= 1e-5


def test_model_runs_on_triton_backend(interpreted_results: dict[str, dict]) -> None:
    result = interpreted_results["tiny_qwen2_model"]
    assert result["logits_std"] > 1.0  # weights large enough for attention to matter
    assert result["max_abs_diff"] <= 1e-4


def test_triton_rejects_non_power_of_two_block_size(interpreted_results: dict) -> None:
    assert interpreted_results["block_size_3"] == "rejected"
