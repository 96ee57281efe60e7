"""The real default model (SmolLM2-135M-Instruct) in paste against transformers.

Needs `paste models pull smollm2-135m-instruct` first (skipped otherwise). Both sides load the
same converted folder in float32 (the last test: in the engine's default dtype); paste runs the
chat-templated prompt as two prefill chunks then greedy decode steps, transformers runs the
whole sequence at once.
"""

from __future__ import annotations

import pytest
import torch

from paste.engine.attention import (
    AttentionBackendUnavailableError,
    resolve_attention_backend_name,
)
from paste.engine.models.kv_cache import allocate_kv_cache
from paste.engine.models.loader import load_model
from paste.engine.models.metadata import AttentionMetadata
from paste.models import store

pytestmark = pytest.mark.model

NAME = "smollm2-135m-instruct"
BS = 16
DECODE_STEPS = 6


@pytest.fixture(scope="module")
def folder() -> object:
    if not store.is_pulled(NAME):
        pytest.skip(f"run `paste models pull {NAME}` first")
    return store.model_path(NAME)


@pytest.fixture(scope="module")
def tokenizer(folder: object) -> object:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def hf_model(folder: object) -> object:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def _paste_greedy(model: object, ids: list[int]) -> tuple[list[int], torch.Tensor]:
    """Two prefill chunks then greedy decode; returns all tokens and the sampled-row logits
    (row i predicts token len(ids) + i)."""
    caches = allocate_kv_cache(
        model.config, num_blocks=8, block_size=BS, dtype=torch.float32, device="cpu"
    )
    table = [5, 2, 7, 0]
    tokens = list(ids)
    half = len(tokens) // 2
    chunks = [(0, half), (half, len(tokens) - half)]
    rows = []
    with torch.no_grad():
        for step in range(2 + DECODE_STEPS):
            computed, new = chunks[step] if step < 2 else (len(tokens) - 1, 1)
            md = AttentionMetadata.from_block_tables(
                block_size=BS,
                block_tables=[table[: (computed + new + BS - 1) // BS]],
                num_computed_tokens=[computed],
                num_new_tokens=[new],
            )
            hidden = model(torch.tensor(tokens[computed : computed + new]), caches, md)
            logits = model.compute_logits(hidden[md.logits_indices])[0]
            if step >= 1:
                rows.append(logits)
                tokens.append(int(logits.argmax()))
    return tokens, torch.stack(rows)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_chunked_prefill_and_greedy_decode_match_transformers(
    folder: object, tokenizer: object, hf_model: object, backend: str
) -> None:
    try:
        resolve_attention_backend_name(backend, "cpu", torch.float32)
    except AttentionBackendUnavailableError as exc:
        pytest.skip(str(exc))
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = tokenizer(prompt).input_ids
    model = load_model(folder, backend=backend, dtype=torch.float32)
    tokens, paste_logits = _paste_greedy(model, ids)
    with torch.no_grad():
        hf_logits = hf_model(torch.tensor([tokens])).logits[0]
    want = hf_logits[len(ids) - 1 : len(ids) - 1 + paste_logits.shape[0]]
    torch.testing.assert_close(paste_logits, want, rtol=1e-3, atol=1e-3)
    assert "Paris" in tokenizer.decode(tokens[len(ids) :])


def test_prompt_logprobs_match_transformers_and_prefer_the_true_answer(
    folder: object, tokenizer: object, hf_model: object
) -> None:
    """Scoring (GenerationParams.prompt_logprobs) through the whole engine, chunked into
    16-token steps: every prompt token's logprob as transformers computes it, and the real
    model finds " Paris" likelier than " London" after the question."""
    from paste.engine.engine import Engine
    from paste.engine.request import GenerationParams

    engine = Engine(str(folder), attention_backend="cpu", num_blocks=64, block_size=BS,
                    max_num_batched_tokens=16, num_threads=1, dtype="float32")
    try:
        context = "Question: What is the capital of France?\nAnswer: The capital of France is"
        scored = {}
        for answer in (" Paris", " London"):
            ids = tokenizer(context + answer).input_ids
            out = engine.generate([ids], GenerationParams(max_tokens=1, prompt_logprobs=2))[0]
            with torch.no_grad():
                logp = torch.log_softmax(hf_model(torch.tensor([ids])).logits[0].double(), -1)
            want = [float(logp[p - 1, ids[p]]) for p in range(1, len(ids))]
            assert out.prompt_logprobs[0] is None
            got = [e.logprob for e in out.prompt_logprobs[1:]]
            assert got == pytest.approx(want, abs=2e-3)
            n = len(tokenizer(context).input_ids)
            scored[answer] = sum(got[n - 1 :])
        assert scored[" Paris"] > scored[" London"]
    finally:
        engine.shutdown()


def test_the_default_dtype_decodes_as_transformers_does_in_bfloat16(folder: object,
                                                                     tokenizer: object) -> None:
    """With the default dtype ("auto": bfloat16 for this bf16 checkpoint on a CPU with bf16
    units, float32 elsewhere) the engine's greedy answer equals transformers' greedy answer in
    that same dtype, token for token."""
    from transformers import AutoModelForCausalLM

    from paste.engine.engine import Engine
    from paste.engine.request import GenerationParams

    engine = Engine(str(folder), num_blocks=64, block_size=BS, num_threads=2)
    try:
        dtype = engine.info.dtype
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": "Name three uses of a paper clip."}],
            add_generation_prompt=True, tokenize=False)
        ids = tokenizer(ids).input_ids
        got = engine.generate([ids], GenerationParams(max_tokens=24, temperature=0))[0]
    finally:
        engine.shutdown()
    hf = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).eval()
    with torch.no_grad():
        want = hf.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False)[0]
    eos = hf.generation_config.eos_token_id
    eos = set(eos) if isinstance(eos, list) else {eos}
    assert got.token_ids == want[len(ids):].tolist()[: len(got.token_ids)]
    assert len(got.token_ids) == 24 or got.token_ids[-1] in eos
