"""LoRA adapters: an adapter saved by PEFT (the real library, on a tiny random llama whose
LoRA weights are random, not PEFT's zero-B start) is served by paste with the logits PEFT's own
forward gives (float32); a batch mixing adapter and base requests gives each what it gets
alone; adapter and base never share cached prompt KV; every refused adapter or request gets a
typed error and leaves the engine serving."""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from paste.cli.lora_modules import parse_lora_modules
from paste.engine.lora import LoraError, load_adapter
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from tiny_model import build_tiny_model, make_tiny_engine

PROMPT = "An adapter changes what the model says next, and only for its own requests."
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def save_peft_adapter(base: Path, out: Path, targets: list[str], rank: int = 4,
                      alpha: int = 8, seed: int = 1, **extra) -> Path:
    """PEFT's LoRA on the HF model of `base`, its A and B weights random, saved to `out`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets,
                        init_lora_weights=False, **extra)
    with warnings.catch_warnings():  # PEFT warns of an adapted lm_head tied to embeddings
        warnings.simplefilter("ignore", UserWarning)
        peft_model = get_peft_model(model, config)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, param in peft_model.named_parameters():
                if "lora_" in name:
                    param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
        peft_model.save_pretrained(str(out))
    return out


def peft_logprobs(base: Path, adapter: Path, ids: list[int], out_ids: list[int]) -> list[float]:
    """log p(out_ids[i] | ids + out_ids[:i]) under PEFT's forward of base + adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    model = PeftModel.from_pretrained(model, str(adapter)).eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids + out_ids])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return [float(logp[len(ids) - 1 + i, t]) for i, t in enumerate(out_ids)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    base = build_tiny_model(root / "base", "llama")
    full = save_peft_adapter(base, root / "full", TARGETS)
    attn = save_peft_adapter(base, root / "attn", ["q_proj", "v_proj"], rank=2, alpha=4,
                             seed=2, use_rslora=True)
    return base, full, attn


@pytest.fixture(scope="module")
def engine(folders):
    base, full, attn = folders
    eng = make_tiny_engine(base, dtype="float32",
                           lora_modules=(("full", str(full)), ("attn", str(attn))))
    yield eng
    eng.shutdown()


def _run(engine, ids, lora, n=8):
    params = GenerationParams(max_tokens=n, ignore_eos=True, logprobs=0, lora=lora)
    return engine.generate([ids], params)[0]


@pytest.mark.parametrize("name", ["full", "attn"])
def test_an_adapter_gives_peft_s_own_logits(engine, folders, name):
    base, full, attn = folders
    ids = engine.encode(PROMPT)
    out = _run(engine, ids, name)
    want = peft_logprobs(base, {"full": full, "attn": attn}[name], ids, out.token_ids)
    got = [lp.logprob for lp in out.logprobs]
    assert got == pytest.approx(want, abs=1e-4)
    # greedy: each token is PEFT's argmax too, so the adapter really steered the output
    assert out.token_ids != _run(engine, ids, None).token_ids


def test_a_mixed_batch_gives_each_request_what_it_gets_alone(engine):
    ids = engine.encode(PROMPT)
    alone = {name: _run(engine, ids, name) for name in (None, "full", "attn")}
    params = [GenerationParams(max_tokens=8, ignore_eos=True, logprobs=0, lora=name)
              for name in (None, "full", "attn", None)]
    handles = [engine.submit(ids, p) for p in params]
    got = [h.result() for h in handles]
    for p, out in zip(params, got, strict=True):
        assert out.token_ids == alone[p.lora].token_ids
        assert [lp.logprob for lp in out.logprobs] == pytest.approx(
            [lp.logprob for lp in alone[p.lora].logprobs], abs=1e-4)


def test_a_step_hooks_exactly_the_layers_its_adapters_adapt(engine):
    lora, model = engine.core.runner.lora, engine.core.runner.model
    ids = engine.encode(PROMPT)

    def layers(*suffixes):
        return tuple(sorted(n for n, _m in model.named_modules() if n.endswith(suffixes)))

    _run(engine, ids, "attn", 1)
    assert lora.hooked_layers == layers("qkv_proj")
    _run(engine, ids, None, 1)
    assert lora.hooked_layers == ()  # a base-model step runs with no hook at all
    _run(engine, ids, "full", 1)
    assert lora.hooked_layers == layers("qkv_proj", "o_proj", "gate_up_proj", "down_proj")


def test_an_adapter_and_the_base_never_share_cached_prompt_kv(engine):
    ids = engine.encode("Cache me first. " + PROMPT)
    assert _run(engine, ids, "full", 1).num_cached_tokens == 0
    hit = _run(engine, ids, "full", 1).num_cached_tokens
    assert hit > 0
    assert _run(engine, ids, None, 1).num_cached_tokens == 0
    assert _run(engine, ids, "attn", 1).num_cached_tokens == 0
    assert _run(engine, ids, "full", 1).num_cached_tokens == hit


def test_an_unknown_adapter_is_refused_and_the_engine_serves_on(engine):
    ids = engine.encode(PROMPT)
    with pytest.raises(InvalidArgumentError, match="unknown LoRA adapter 'nope'"):
        engine.generate([ids], GenerationParams(max_tokens=2, lora="nope"))
    assert len(_run(engine, ids, "full", 2).token_ids) == 2


def test_an_engine_without_adapters_refuses_a_lora_request(folders):
    eng = make_tiny_engine(folders[0])
    try:
        with pytest.raises(InvalidArgumentError, match="serves no LoRA adapters"):
            eng.generate([eng.encode(PROMPT)], GenerationParams(max_tokens=2, lora="full"))
    finally:
        eng.shutdown()


def _broken(folders, tmp_path, edit) -> Path:
    """A copy of the `full` adapter with `edit(folder)` applied."""
    folder = tmp_path / "broken"
    shutil.copytree(folders[1], folder)
    edit(folder)
    return folder


def _config_edit(**changes):
    def edit(folder: Path) -> None:
        path = folder / "adapter_config.json"
        config = json.loads(path.read_text())
        config.update(changes)
        path.write_text(json.dumps(config))
    return edit


def _to_embedding(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = folder / "adapter_model.safetensors"
    old = "model.layers.0.self_attn.q_proj."
    save_file({k.replace(old, "model.embed_tokens."): v
               for k, v in load_file(str(path)).items()}, str(path))


def _drop_b(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = folder / "adapter_model.safetensors"
    tensors = {k: v for k, v in load_file(str(path)).items() if "lora_B" not in k or
               "layers.0.self_attn.q_proj" not in k}
    save_file(tensors, str(path))


@pytest.mark.parametrize("edit, message", [
    (_config_edit(r=64), "rank 64 is above max_lora_rank 16"),
    (_config_edit(bias="all"), "bias 'all' is not supported"),
    (_config_edit(use_dora=True), "DoRA adapters are not supported"),
    (_config_edit(modules_to_save=["lm_head"]), "modules_to_save"),
    (_config_edit(peft_type="IA3"), "peft_type 'IA3' is not LORA"),
    (_config_edit(r=8), "model.layers.0.mlp.down_proj has lora_A \\(4, 96\\) and lora_B "
                        "\\(48, 4\\); this model needs \\(8, 96\\) and \\(48, 8\\)"),
    (_drop_b, "has lora_A without its pair"),
    (_to_embedding, "model.embed_tokens is not a decoder linear layer paste adapts"),
    (lambda f: (f / "adapter_config.json").unlink(), "no adapter_config.json"),
    (lambda f: (f / "adapter_model.safetensors").write_bytes(b"junk"),
     "unreadable adapter weights"),
    (lambda f: (f / "adapter_model.safetensors").unlink(), "no adapter_model.safetensors"),
])
def test_a_bad_adapter_is_refused_naming_the_folder(folders, tmp_path, edit, message):
    from paste.engine.models import load_model

    model = load_model(folders[0], backend="torch")
    folder = _broken(folders, tmp_path, edit)
    with pytest.raises(LoraError, match=message) as info:
        load_adapter("x", folder, model, max_rank=16)
    assert str(folder) in str(info.value)


def test_an_adapter_of_the_lm_head_is_refused(folders, tmp_path):
    from paste.engine.models import load_model

    # PEFT saves the whole (tied) head beside its A/B weights
    out = save_peft_adapter(folders[0], tmp_path / "head", ["q_proj", "lm_head"])
    with pytest.raises(LoraError, match="'base_model.model.lm_head.base_layer.weight' is not "
                                        "a LoRA A/B weight"):
        load_adapter("x", out, load_model(folders[0], backend="torch"), max_rank=16)


def test_a_bad_adapter_fails_the_engine_at_load(folders, tmp_path):
    with pytest.raises(LoraError, match="no adapter_config.json"):
        make_tiny_engine(folders[0], lora_modules=(("x", str(tmp_path)),))


def test_lora_modules_parse_as_vllm_writes_them():
    assert parse_lora_modules(["a=/x/a", '{"name": "b", "path": "/x/b", '
                               '"base_model_name": "m"}']) == (("a", "/x/a"), ("b", "/x/b"))
    for bad in (["a"], ["=/x"], ["a="], ["{not json"], ['{"name": "a"}'], ["a=/x", "a=/y"]):
        with pytest.raises(InvalidArgumentError, match="--lora-modules"):
            parse_lora_modules(bad)


def test_bad_lora_settings_are_refused():
    from paste.engine.config import EngineConfig

    with pytest.raises(InvalidArgumentError, match="max_lora_rank must be positive"):
        EngineConfig(max_lora_rank=0)
    with pytest.raises(InvalidArgumentError, match="LoRA adapter name 'a' is given twice"):
        EngineConfig(lora_modules=(("a", "/x"), ("a", "/y")))
    with pytest.raises(InvalidArgumentError, match="lora must be a non-empty string"):
        GenerationParams(lora="")


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
def test_other_families_match_peft_too(tmp_path, arch):
    # qwen2: q/k/v biases beside the adapter; qwen3: head_dim 16 != hidden / heads, so the
    # q slice of qkv_proj is not a third of it
    base = build_tiny_model(tmp_path / "base", arch)
    adapter = save_peft_adapter(base, tmp_path / "lora", TARGETS, seed=4)
    eng = make_tiny_engine(base, dtype="float32", lora_modules=(("x", str(adapter)),))
    try:
        ids = eng.encode(PROMPT)
        out = _run(eng, ids, "x")
        want = peft_logprobs(base, adapter, ids, out.token_ids)
        assert [lp.logprob for lp in out.logprobs] == pytest.approx(want, abs=1e-4)
    finally:
        eng.shutdown()


def test_drafted_steps_apply_the_adapter_to_every_draft_row(engine):
    # the adapter's own answer as the predicted output: every step verifies drafts in one
    # forward, so each draft row must get the adapter's deltas for the answer to stay the same
    ids = engine.encode("Drafted. " + PROMPT)
    params = GenerationParams(max_tokens=24, ignore_eos=True, lora="full")
    want = engine.generate([ids], params)[0].token_ids
    accepted = engine.stats().num_accepted_draft_tokens
    drafted = engine.generate([ids], replace(params, prediction=tuple(want)))[0]
    assert drafted.token_ids == want
    assert engine.stats().num_accepted_draft_tokens - accepted >= len(want) // 2


def test_adapters_load_and_unload_while_the_engine_runs(engine, folders):
    from paste.engine.lora import LoraInUseError, LoraNameError

    base, full, attn = folders
    eng = make_tiny_engine(base, dtype="float32")
    try:
        ids = eng.encode("Loaded late. " + PROMPT)
        assert eng.lora_adapters() == ()
        eng.load_lora_adapter("late", str(full))
        assert eng.lora_adapters() == (("late", str(full)),)
        assert _run(eng, ids, "late").token_ids == _run(engine, ids, "full").token_ids
        assert _run(eng, ids, "late", 1).num_cached_tokens > 0
        with pytest.raises(LoraNameError, match="LoRA adapter 'late' is already loaded"):
            eng.load_lora_adapter("late", str(attn))
        with pytest.raises(LoraError, match="no adapter_config.json"):
            eng.load_lora_adapter("bad", str(base))
        assert eng.lora_adapters() == (("late", str(full)),)
        # unloading waits for no request: one still running refuses it
        busy = eng.submit(ids, GenerationParams(max_tokens=400, ignore_eos=True, lora="late"))
        with pytest.raises(LoraInUseError, match="'late' is in use by 1 running request"):
            eng.unload_lora_adapter("late")
        busy.abort()
        busy.result()
        eng.unload_lora_adapter("late")
        with pytest.raises(InvalidArgumentError, match="unknown LoRA adapter 'late'"):
            _run(eng, ids, "late")
        with pytest.raises(LoraNameError, match="LoRA adapter 'late' is not loaded"):
            eng.unload_lora_adapter("late")
        # the name again, other weights: nothing cached under the old ones is reused
        eng.load_lora_adapter("late", str(attn))
        again = _run(eng, ids, "late")
        assert again.num_cached_tokens == 0
        assert again.token_ids == _run(engine, ids, "attn").token_ids
    finally:
        eng.shutdown()


def test_paste_generate_runs_an_adapter(folders, capsys):
    from paste.cli import main
    from paste.engine.engine import Engine

    base, full, _attn = folders
    settings = ["--dtype", "float32", "--no-tune-matmul", "--num-threads", "1"]
    argv = ["generate", "--model", str(base), "--raw", "--max-tokens", "8", *settings, PROMPT]
    assert main([*argv, "--lora-modules", f"full={full}", "--lora", "full"]) == 0
    adapted = capsys.readouterr().out
    with Engine(str(base), dtype="float32", tune_matmul=False, num_threads=1,
                lora_modules=(("full", str(full)),)) as eng:
        want = eng.generate([PROMPT], GenerationParams(max_tokens=8, lora="full"))[0].text
    assert adapted == want + "\n"
    assert main(argv) == 0
    assert capsys.readouterr().out != adapted
    assert main([*argv, "--lora", "x"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: unknown LoRA adapter 'x': this engine serves no LoRA adapters (--lora-modules)")
