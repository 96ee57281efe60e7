"""KV cache sizing by device (engine/kv_sizing.py): the block count table, vLLM's
gpu_memory_utilization budget, its typed errors, the profile step, and the runner's use of a
device measurement (a fake probe: this machine has no CUDA device)."""

from __future__ import annotations

import math

import pytest
import torch

from paste.engine import kv_sizing, model_runner
from paste.engine.config import EngineConfig
from paste.engine.kv_sizing import (
    DEFAULT_CPU_KV_BYTES,
    CudaMemoryProbe,
    KVCacheMemoryError,
    MemoryUse,
    kv_budget_bytes,
    kv_cache_blocks,
    memory_probe,
    profile_plan,
    profile_step,
)
from paste.engine.model_runner import ModelRunner
from paste.engine.models import AttentionMetadata, kv_cache_bytes_per_block
from paste.errors import InvalidArgumentError
from tiny_model import build_tiny_model

USE = MemoryUse(total=1000, free_at_start=950, weights=300, peak_activation=100, non_torch=50)


def test_budget_is_the_utilization_less_weights_activations_and_non_torch_memory() -> None:
    assert kv_budget_bytes(USE, 0.9) == 900 - 300 - 100 - 50
    assert kv_budget_bytes(USE, 0.95) == 950 - 450


def test_a_device_without_the_requested_memory_free_is_a_typed_error() -> None:
    with pytest.raises(KVCacheMemoryError, match="only 0.00 GiB were free at start"):
        kv_budget_bytes(USE, 0.96)  # 960 requested, 950 free
    assert issubclass(KVCacheMemoryError, InvalidArgumentError)


def test_nothing_left_for_the_cache_is_a_typed_error_naming_the_parts() -> None:
    heavy = MemoryUse(total=1000, free_at_start=1000, weights=400, peak_activation=50,
                      non_torch=0)
    with pytest.raises(KVCacheMemoryError, match="no memory left for the KV cache"):
        kv_budget_bytes(heavy, 0.45)  # 450 - 400 - 50 = 0
    assert kv_budget_bytes(heavy, 0.46) == 10


def test_block_count_table() -> None:
    common = {"per_block": 64, "utilization": 0.9}
    assert kv_cache_blocks(num_blocks=7, kv_cache_memory_bytes=6400, use=USE, **common) == 7
    assert kv_cache_blocks(num_blocks=0, kv_cache_memory_bytes=6400, use=USE, **common) == 100
    assert kv_cache_blocks(num_blocks=0, kv_cache_memory_bytes=10, use=None, **common) == 1
    assert kv_cache_blocks(num_blocks=0, kv_cache_memory_bytes=None, use=None,
                           **common) == DEFAULT_CPU_KV_BYTES // 64
    assert kv_cache_blocks(num_blocks=0, kv_cache_memory_bytes=None, use=USE,
                           **common) == 450 // 64
    with pytest.raises(KVCacheMemoryError, match="450 bytes left for the KV cache hold no "
                       "block of 512 bytes"):
        kv_cache_blocks(num_blocks=0, kv_cache_memory_bytes=None, use=USE, per_block=512,
                        utilization=0.9)


def test_only_a_cuda_device_without_a_cache_size_is_measured() -> None:
    cuda = torch.device("cuda", 1)
    assert memory_probe(torch.device("cpu"), 0, None) is None
    assert memory_probe(cuda, 16, None) is None
    assert memory_probe(cuda, 0, 1 << 20) is None
    probe = memory_probe(cuda, 0, None)
    assert isinstance(probe, CudaMemoryProbe) and probe.device == cuda


@pytest.mark.parametrize("value", [0.0, -0.1, 1.01, math.nan])
def test_utilization_outside_0_1_is_rejected(value: float) -> None:
    with pytest.raises(InvalidArgumentError, match="gpu_memory_utilization must be in"):
        EngineConfig(gpu_memory_utilization=value)


def test_cache_bytes_must_be_positive_or_none() -> None:
    with pytest.raises(InvalidArgumentError, match="kv_cache_memory_bytes must be positive"):
        EngineConfig(kv_cache_memory_bytes=0)
    assert EngineConfig().kv_cache_memory_bytes is None
    assert EngineConfig(gpu_memory_utilization=1.0).gpu_memory_utilization == 1.0


def test_profile_plan_is_one_prompt_in_its_own_blocks() -> None:
    plan = profile_plan(num_tokens=40, num_rows=64, block_size=16)
    assert plan["positions"].tolist() == list(range(40))
    assert plan["slot_mapping"].tolist() == list(range(40))
    assert plan["query_start_loc"].tolist() == [0, 40]
    assert plan["seq_lens"].tolist() == [40]
    assert plan["num_computed_tokens"].tolist() == [0]
    assert plan["kv_indptr"].tolist() == [0, 3]
    assert plan["kv_indices"].tolist() == [0, 1, 2]
    assert plan["kv_last_page_len"].tolist() == [8]
    assert plan["logits_indices"].tolist() == list(range(40))  # 64 rows capped at 40
    full = profile_plan(num_tokens=32, num_rows=3, block_size=16)
    assert (full["kv_last_page_len"].tolist(), full["logits_indices"].tolist()) == (
        [16], [29, 30, 31])
    for p, blocks in ((plan, 3), (full, 2)):  # valid plans for a cache of that many blocks
        meta = AttentionMetadata.build(block_size=16, num_blocks=blocks, **p)
        assert meta.num_tokens == int(p["seq_lens"][0])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    return build_tiny_model(tmp_path_factory.mktemp("kv_sizing") / "m")


def _config(**kw) -> EngineConfig:
    return EngineConfig(attention_backend="torch", block_size=4, max_num_batched_tokens=40,
                        max_num_seqs=3, num_threads=1, tune_matmul=False, **kw)


def test_profile_step_runs_the_model_on_a_cache_of_its_own(folder) -> None:
    runner = ModelRunner(folder, _config(num_blocks=8))
    shape = profile_step(runner.model, runner.model_config, num_tokens=37, num_rows=5,
                         block_size=4, dtype=runner.dtype, device=runner.device)
    assert shape == (5, runner.vocab_size)
    assert all(int(torch.count_nonzero(cache)) == 0 for cache in runner.kv_caches)


class FakeMemoryProbe:
    """Scripted device measurement: records the calls, answers a fixed MemoryUse."""

    def __init__(self, use: MemoryUse) -> None:
        self.use, self.calls = use, []

    def start(self) -> None:
        self.calls.append("start")

    def loaded(self) -> None:
        self.calls.append("loaded")

    def finish(self) -> MemoryUse:
        self.calls.append("finish")
        return self.use


def test_runner_sizes_the_cache_from_the_measurement_after_a_profile_step(
        folder, monkeypatch: pytest.MonkeyPatch) -> None:
    use = MemoryUse(total=1 << 24, free_at_start=1 << 24, weights=1 << 20,
                    peak_activation=1 << 19, non_torch=1 << 18)
    fake, steps, probes = FakeMemoryProbe(use), [], []

    def probe(device, num_blocks, cache_bytes):
        probes.append((device.type, num_blocks, cache_bytes))
        return fake

    def step(*args, **kw):
        steps.append((kw["num_tokens"], kw["num_rows"], fake.calls.copy()))
        return kv_sizing.profile_step(*args, **kw)

    monkeypatch.setattr(model_runner, "memory_probe", probe)
    monkeypatch.setattr(model_runner, "profile_step", step)
    runner = ModelRunner(folder, _config(gpu_memory_utilization=0.5))
    per_block = kv_cache_bytes_per_block(runner.model_config, 4, runner.dtype)
    budget = (1 << 23) - (1 << 20) - (1 << 19) - (1 << 18)
    assert runner.num_blocks == budget // per_block
    assert runner.kv_caches[0].shape[1] == budget // per_block
    assert probes == [("cpu", 0, None)]
    assert steps == [(40, 3, ["start", "loaded"])]  # the largest step, after the weights
    assert fake.calls == ["start", "loaded", "finish"]


def test_runner_without_a_probe_keeps_the_cpu_default(folder) -> None:
    runner = ModelRunner(folder, _config())
    per_block = kv_cache_bytes_per_block(runner.model_config, 4, runner.dtype)
    assert runner.num_blocks == DEFAULT_CPU_KV_BYTES // per_block
    assert ModelRunner(folder, _config(kv_cache_memory_bytes=per_block * 9)).num_blocks == 9
