"""TunedLinear (engine/models/tuned_linear.py): both matmul orientations compute x @ W.T + b,
the per-row-count plan takes the verdict of the nearest measured count below, and tuning sets
one plan per weight shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paste.engine.engine import Engine
from paste.engine.models import tuned_linear
from paste.engine.models.tuned_linear import (
    ROW_COUNTS,
    LinearPlan,
    TunedLinear,
    plan_rows,
    transposed_linear,
    tune_linears,
    vector_linear,
)
from paste.engine.request import GenerationParams
from tiny_model import build_tiny_model


@pytest.mark.parametrize("bias", [False, True])
def test_both_orientations_compute_the_same_product(bias):
    torch.manual_seed(0)
    layer = TunedLinear(24, 40, bias=bias)
    layer.rows_transposed = (False,) + (True,) * 64
    for m in (1, 3, 4, 17, 64, 65, 130):
        x = torch.randn(m, 24)
        want = nn.functional.linear(x, layer.weight, layer.bias)
        got = layer(x)
        assert got.shape == (m, 40) and got.is_contiguous()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(transposed_linear(x, layer.weight, layer.bias), want,
                                   rtol=1e-5, atol=1e-5)
    x3 = torch.randn(2, 5, 24)  # not a flat batch of rows: plain F.linear
    torch.testing.assert_close(layer(x3), nn.functional.linear(x3, layer.weight, layer.bias))


@pytest.mark.parametrize("bias", [False, True])
def test_one_row_as_a_matrix_vector_product_is_the_same_product(bias, monkeypatch):
    torch.manual_seed(0)
    layer = TunedLinear(24, 40, bias=bias)
    layer.rows_transposed, layer.row_vector = (False,) * 65, True
    calls = []

    def recording_vector(x, weight, b):
        calls.append(x.shape[0])
        return vector_linear(x, weight, b)

    monkeypatch.setattr(tuned_linear, "vector_linear", recording_vector)
    for m in (1, 2, 5):
        x = torch.randn(m, 24)
        got = layer(x)
        assert got.shape == (m, 40)
        torch.testing.assert_close(got, nn.functional.linear(x, layer.weight, layer.bias),
                                   rtol=1e-5, atol=1e-5)
    assert calls == [1]  # one row only
    x1 = torch.randn(1, 24, dtype=torch.bfloat16)
    w, b = layer.weight.bfloat16(), None if layer.bias is None else layer.bias.bfloat16()
    torch.testing.assert_close(vector_linear(x1, w, b), nn.functional.linear(x1, w, b),
                               rtol=2e-2, atol=2e-2)


def test_plan_takes_the_nearest_measured_count_below():
    wins = {1: False, 2: False, 3: False, 4: True, 6: False, 8: True, 16: True, 32: False,
            64: True}
    assert tuple(wins) == ROW_COUNTS
    plan = plan_rows(wins)
    assert len(plan) == 65 and plan[0] is False
    assert [plan[m] for m in (1, 3, 4, 5, 6, 7, 8, 15, 16, 31, 32, 63, 64)] == \
        [False, False, True, True, False, False, True, True, True, True, False, False, True]


def test_an_untuned_layer_is_plain_linear():
    layer = TunedLinear(8, 8, bias=True)
    assert layer.rows_transposed == ()
    x = torch.randn(5, 8)
    assert torch.equal(layer(x), nn.functional.linear(x, layer.weight, layer.bias))


class FakeModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = TunedLinear(16, 32, bias=False)
        self.b = TunedLinear(16, 32, bias=False)  # same shape as a: one measurement
        self.c = TunedLinear(32, 16, bias=True)
        self.plain = nn.Linear(16, 16)  # not a TunedLinear: untouched


def test_tuning_measures_each_shape_once_and_plans_every_layer_of_it(monkeypatch):
    measured = []

    def fake_measure(weight, bias, repeats=2):
        measured.append((tuple(weight.shape), bias is not None))
        wide = weight.shape[0] == 32
        return {m: (m >= 4) if wide else (m >= 16) for m in ROW_COUNTS}

    def fake_vector(weight, bias, transposed, repeats=2):
        measured.append(("vector", tuple(weight.shape), transposed))
        return weight.shape[0] == 16

    monkeypatch.setattr(tuned_linear, "measure", fake_measure)
    monkeypatch.setattr(tuned_linear, "measure_vector", fake_vector)
    model = FakeModel()
    plans = tune_linears(model)
    assert len(measured) == 4 and set(measured) == {
        ((16, 32), True), ((32, 16), False), ("vector", (16, 32), False),
        ("vector", (32, 16), False)}
    assert plans[(32, 16)] == LinearPlan(model.a.rows_transposed, False)
    assert plans[(16, 32)] == LinearPlan(model.c.rows_transposed, True)
    assert model.a.rows_transposed == model.b.rows_transposed == plans[(32, 16)][0]
    assert (model.a.row_vector, model.b.row_vector, model.c.row_vector) == (False, False, True)
    assert [i for i, t in enumerate(model.a.rows_transposed) if t] == list(range(4, 65))
    assert [i for i, t in enumerate(model.c.rows_transposed) if t] == list(range(16, 65))
    assert not hasattr(model.plain, "rows_transposed")


def test_real_measurement_gives_a_verdict_per_row_count():
    wins = tuned_linear.measure(torch.randn(64, 32), None, repeats=1)
    assert sorted(wins) == list(ROW_COUNTS)
    assert all(isinstance(v, bool) for v in wins.values())
    for transposed in (False, True):
        assert isinstance(tuned_linear.measure_vector(torch.randn(64, 32), torch.randn(64),
                                                      transposed, repeats=1), bool)


def test_the_engine_tunes_at_load_unless_told_not_to(tmp_path):
    folder = build_tiny_model(tmp_path / "tiny", "qwen2")
    for tune in (True, False):
        eng = Engine(str(folder), attention_backend="torch", block_size=4, num_blocks=64,
                     num_threads=1, tune_matmul=tune)
        try:
            runner = eng.core.runner
            layers = [m for m in runner.model.modules() if isinstance(m, TunedLinear)]
            shapes = {tuple(m.weight.shape) for m in layers}
            if tune:
                assert set(runner.linear_plans) == shapes
                assert all(len(m.rows_transposed) == 65 for m in layers)
                assert all(m.row_vector == runner.linear_plans[tuple(m.weight.shape)].row_vector
                           for m in layers)
            else:
                assert runner.linear_plans == {}
                assert all(m.rows_transposed == () and not m.row_vector for m in layers)
            out = eng.generate([[1, 2, 3]], GenerationParams(max_tokens=3, ignore_eos=True))[0]
            assert len(out.token_ids) == 3
        finally:
            eng.shutdown()
