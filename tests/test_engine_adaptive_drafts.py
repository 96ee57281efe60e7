"""Adaptive draft lengths (EngineConfig.adaptive_drafts): the step-cost table measured at load
(engine/step_costs.py) reaches the BatchLoop, which cuts the prompt-lookup drafts for goodput
(csrc/include/paste/draft_policy.h). Greedy outputs stay exactly those of plain decoding
whatever the cuts; fake cost tables (in place of the measurement) pin the two extremes."""

from __future__ import annotations

import pytest

import paste.engine.core as engine_core
from paste.engine.request import GenerationParams
from paste.engine.step_costs import ROWS, measure_step_costs
from tiny_model import build_tiny_model, make_tiny_engine

PROMPTS = ["one two three one two three one two three one two", "a b c d a b c d a b c d"]
PARAMS = GenerationParams(max_tokens=30, ignore_eos=True)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")


def run(folder, **kw):
    """(token ids of PROMPTS, draft tokens verified, accepted, the loop's cost table)."""
    eng = make_tiny_engine(folder, **kw)
    try:
        ids = [eng.encode(p) for p in PROMPTS]
        out = [o.token_ids for o in eng.generate(ids, PARAMS)]
        s = eng.core.loop.stats
        costs = list(eng.core.loop.config.draft_step_costs)
        assert costs == eng.core.draft_step_costs
        return out, s.num_draft_tokens, s.num_accepted_draft_tokens, costs
    finally:
        eng.shutdown()


@pytest.fixture(scope="module")
def plain(tiny_folder):
    return run(tiny_folder)


def test_the_measured_table_is_relative_non_decreasing_and_sized_by_the_budget(tiny_folder):
    eng = make_tiny_engine(tiny_folder, max_num_batched_tokens=12)
    try:
        costs = measure_step_costs(eng.core.runner, 12)
    finally:
        eng.shutdown()
    assert len(costs) == 12  # rows 1..12: measured at 1-6, 8, 12, interpolated between
    assert costs[0] == 1.0
    assert all(b >= a for a, b in zip(costs, costs[1:], strict=False))
    assert max(ROWS) == 32


def test_adaptive_engines_measure_only_when_they_draft(tiny_folder, plain):
    out, drafted, accepted, costs = run(tiny_folder, num_draft_tokens=4, draft_ngram_min=1)
    assert out == plain[0]  # exact greedy output, whatever lengths were kept
    assert len(costs) == 32 and costs[0] == 1.0  # min(64, ROWS[-1]) rows
    assert 0 <= accepted <= drafted
    assert plain[3] == []  # no drafts configured: nothing measured, the loop never cuts
    assert run(tiny_folder, num_draft_tokens=4, adaptive_drafts=False)[3] == []


def _fake_costs(table):
    def fake_measure(_runner, max_rows):
        return table[:max_rows]
    return fake_measure


def test_rows_that_cost_a_step_each_leave_no_draft_worth_verifying(tiny_folder, plain,
                                                                   monkeypatch):
    monkeypatch.setattr(engine_core, "measure_step_costs",
                        _fake_costs([float(r) for r in range(1, 33)]))
    out, drafted, accepted, costs = run(tiny_folder, num_draft_tokens=4, draft_ngram_min=1)
    assert out == plain[0]
    assert (drafted, accepted) == (0, 0)
    assert costs[:3] == [1.0, 2.0, 3.0]


def test_a_flat_cost_verifies_every_proposed_draft(tiny_folder, plain, monkeypatch):
    full = run(tiny_folder, num_draft_tokens=4, draft_ngram_min=1, adaptive_drafts=False)
    monkeypatch.setattr(engine_core, "measure_step_costs", _fake_costs([1.0] * 32))
    flat = run(tiny_folder, num_draft_tokens=4, draft_ngram_min=1)
    assert flat[0] == full[0] == plain[0]
    assert flat[1:3] == full[1:3] and full[1] > 0  # the same drafts, the same acceptances


def test_a_real_model_replay_with_a_drafting_mode_gets_a_drafting_engine(tiny_folder):
    from paste.bench.replay import ReplayOptions
    from paste.bench.replay import make_engine as replay_engine

    def built(modes):
        options = ReplayOptions(traces=[], train=[], model=str(tiny_folder), model_time="real",
                                modes=modes, num_draft_tokens=3, max_batch=2)
        eng = replay_engine(options)
        try:
            config = eng.core.config
            return config.num_draft_tokens, config.max_num_seqs, len(eng.core.draft_step_costs)
        finally:
            eng.shutdown()

    assert built("serial,paste-drafts") == (3, 2, 32)  # costs measured: drafts cut for goodput
    assert built("serial,paste,oracle") == (0, 2, 0)
