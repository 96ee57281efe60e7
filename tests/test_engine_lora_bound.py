"""max_loras (vLLM's --max-loras): at most that many LoRA adapters run at once. A request of
one adapter too many waits, later adapter requests wait behind it, base-model requests pass,
and every request still gets exactly what it gets alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from paste._core import SeqStatus

from paste.engine.config import EngineConfig
from paste.engine.core import EngineCore
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError
from test_engine_lora import PROMPT, TARGETS, save_peft_adapter
from tiny_model import build_tiny_model

WAITING, RUNNING = SeqStatus.WAITING, SeqStatus.RUNNING


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora_bound")
    base = build_tiny_model(root / "base", "llama")
    full = save_peft_adapter(base, root / "full", TARGETS)
    attn = save_peft_adapter(base, root / "attn", ["q_proj", "v_proj"], rank=2, seed=2)
    config = EngineConfig(model=str(base), dtype="float32", attention_backend="torch",
                          block_size=4, num_blocks=256, max_num_batched_tokens=256,
                          num_threads=1, max_loras=1,
                          lora_modules=(("full", str(full)), ("attn", str(attn))))
    return EngineCore(Path(base), config)


def params(lora: str | None, n: int) -> GenerationParams:
    return GenerationParams(max_tokens=n, ignore_eos=True, lora=lora)


def step(core: EngineCore, final: dict[int, list[int]]) -> None:
    """One engine step; the token ids of each request it finished go into `final`."""
    final.update({out.request_id: out.token_ids for out in core.step() if out.finished})


def finish(core: EngineCore, reqs, final: dict[int, list[int]]) -> list[list[int]]:
    """Steps until nothing is left: each request's final token ids."""
    while core.has_unfinished():
        step(core, final)
    return [final[r.request_id] for r in reqs]


def statuses(core: EngineCore, reqs) -> list[SeqStatus | None]:
    return [core.loop.seq_info(r.seq_id).status if core.loop.has_sequence(r.seq_id) else None
            for r in reqs]


def test_one_adapter_at_a_time_and_each_request_gets_what_it_gets_alone(core):
    ids = core.runner.tokenizer.encode(PROMPT)
    plan = [("full", 3), ("attn", 3), (None, 6), ("full", 3)]
    final: dict[int, list[int]] = {}
    alone = [finish(core, [core.add_request(ids, params(lora, n))], final)[0]
             for lora, n in plan]
    reqs = [core.add_request(ids, params(lora, n)) for lora, n in plan]
    step(core, final)
    # full runs; attn would be a second adapter: it waits, and the later full waits behind it
    assert statuses(core, reqs) == [RUNNING, WAITING, RUNNING, WAITING]
    assert [core.loop.seq_info(r.seq_id).lora_id for r in reqs] == [1, 2, 0, 1]
    step(core, final)
    step(core, final)  # the first full request's third token: it finishes
    assert statuses(core, reqs) == [None, WAITING, RUNNING, WAITING]
    step(core, final)
    assert statuses(core, reqs) == [None, RUNNING, RUNNING, WAITING]
    assert finish(core, reqs, final) == alone


def test_a_negative_bound_is_refused():
    with pytest.raises(InvalidArgumentError, match=r"max_loras must be >= 0 \(0 = no bound\), "
                                                   r"got -1"):
        EngineConfig(max_loras=-1)


def test_the_flag_sets_the_bound():
    from paste.cli import build_parser
    from paste.cli.serve_cmd import serve_engine_options

    args = build_parser().parse_args(["serve", "m", "--enable-lora", "--max-loras", "2"])
    assert serve_engine_options(args)["max_loras"] == 2
