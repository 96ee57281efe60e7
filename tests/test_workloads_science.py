"""Science workload (paste.workloads): seeded datasets, numpy/scipy computations (in process and
as a subprocess), typed errors, effect classes, and the scripted agent in a live session."""

from __future__ import annotations

import json

import numpy as np
import pytest

from paste.tools import ToolExecutor, ToolJob
from paste.workloads import datasets
from paste.workloads.environment import LiveEnvironment
from paste.workloads.errors import ComputationError, UnknownDatasetError
from paste.workloads.science_agent import ScienceTask, science_tasks
from paste.workloads.science_compute import describe, fit, integrate, solve
from paste.workloads.science_tools import add_science_tools
from paste.workloads.tasks import LiveTask
from paste.workloads.toolbox import LiveToolBox
from test_session_support import shared_tiny_folder
from test_workloads_support import run_one, sim_engine, thoughts


def test_datasets_are_seeded():
    t, y = datasets.load("decay-3")
    t2, y2 = datasets.load("decay-3")
    assert t.shape == (40,) and t[0] == 0.0 and t[-1] == 10.0
    assert np.array_equal(y, y2)
    assert not np.array_equal(y, datasets.load("decay-4")[1])


def test_exact_outputs():
    assert describe("decay-3") == {
        "dataset": "decay-3", "n": 40, "t_range": [0.0, 10.0], "y_mean": 1.41403,
        "y_std": 1.33779, "y_min": 0.0562273, "y_max": 5.10205, "y_first": 5.10205,
        "y_last": 0.0675559, "monotone": "decreasing", "sign_changes": 0}  # fmt: skip
    fitted = fit("decay-3", "decay")
    assert fitted == {"dataset": "decay-3", "model": "decay",
                      "params": {"a": 4.98378, "k": 0.349046}, "rmse": 0.0578632}
    # true parameters of decay-3: a = 5, k = 0.35
    assert fitted["params"]["a"] == pytest.approx(5.0, abs=0.05)
    area = integrate("decay", fitted["params"], 0.0, 10.0)
    a, k = 4.98378, 0.349046
    assert area["value"] == pytest.approx(a / k * (1 - np.exp(-10 * k)), rel=1e-5)
    half = solve("decay", fitted["params"], a / 2, 0.0, 10.0)
    assert half["t"] == pytest.approx(np.log(2) / k, rel=1e-5)


def test_bad_input_typed_errors():
    with pytest.raises(UnknownDatasetError, match="no dataset 'nope-1'"):
        describe("nope-1")
    with pytest.raises(UnknownDatasetError, match="no model 'cubic'"):
        fit("decay-3", "cubic")
    with pytest.raises(ComputationError, match="no sign change"):
        solve("decay", {"a": 1.0, "k": 1.0}, 5.0, 0.0, 1.0)
    with pytest.raises(ComputationError, match="need lo < hi"):
        integrate("decay", {"a": 1.0, "k": 1.0}, 2.0, 1.0)
    with pytest.raises(ComputationError, match="needs parameters a, k"):
        integrate("decay", {"a": 1.0}, 0.0, 1.0)


def test_tools_in_a_subprocess_give_the_same_results_and_errors():
    box = LiveToolBox()
    add_science_tools(box)
    ex = ToolExecutor(box.registry)
    try:
        ok = ex.submit(ToolJob("1", "fit", json.dumps({"dataset": "decay-3", "model": "decay"})))
        bad = ex.submit(ToolJob("2", "describe", json.dumps({"dataset": "nope-1"})))
        assert json.loads(ok.result().content) == fit("decay-3", "decay")
        assert bad.result().content.startswith(
            "tool 'describe' raised UnknownDatasetError: no dataset 'nope-1'")
    finally:
        ex.shutdown()
    effects = {n: box.registry.get(n).effect.value for n in box.registry.names()}
    assert effects == {"describe": "read_only", "fit": "read_only", "integrate": "pure",
                       "solve": "pure"}
    assert all(box.registry.get(n).cpu_bound for n in box.registry.names())
    quick = LiveToolBox()
    add_science_tools(quick, in_process=True)
    assert not any(quick.registry.get(n).cpu_bound for n in quick.registry.names())


def test_science_agent_session_exact_calls(tmp_path_factory):
    engine = sim_engine(shared_tiny_folder(tmp_path_factory))
    task = LiveTask("science", ScienceTask("s-1", "growth-5"))
    with LiveEnvironment(["science"], science_in_process=True) as env:
        run = run_one(engine, env, task)
    params = {"L": 9.97128, "k": 0.900252, "t0": 3.99846}
    assert [c[0] for c in run.calls["s-1"]] == ["describe", "fit", "fit", "integrate", "solve"]
    assert run.calls["s-1"][1:3] == [("fit", {"dataset": "growth-5", "model": "trend"}),
                                     ("fit", {"dataset": "growth-5", "model": "growth"})]
    assert run.calls["s-1"][4] == ("solve", {"model": "growth", "params": params,
                                             "target": 9.97128 / 2, "lo": 0.0, "hi": 10.0})
    assert run.answers["s-1"] == ("Model growth with L = 9.97128, k = 0.900252, t0 = 3.99846; "
                                  "area 59.5941; characteristic time 3.99846.")
    assert thoughts(run, "s-1")[1:] == [
        "growth-5 has 40 points for t from 0.0 to 10.0; y goes from 0.225873 to 9.89957 (min "
        "0.225873, max 9.95467, mean 5.93723, std 3.67258), monotone: increasing, 0 sign "
        "changes. It changes by 9.67 over the range without crossing zero. The simplest "
        "candidate is a straight line y = a t + b, slope about 0.967; if its rmse is small the "
        "line is the model.",
        "The straight line gives a = 1.19978, b = -0.0616734, but its rmse is 0.936516, above "
        "the 0.2 I accept (the data's std is 3.67258), so the residuals are systematic: the "
        "data bend. A rise from 0.225873 that levels off towards the maximum 9.95467 looks "
        "logistic, y = L / (1 + exp(-k (t - t0))); fitting growth, with L expected near "
        "9.95467.",
        "The growth fit gives L = 9.97128, k = 0.900252, t0 = 3.99846 with rmse 0.0399934, "
        "1.09% of the data's std 3.67258, so the curve follows the data closely. The midpoint "
        "t0 = 3.99846 is where the curve reaches half of L = 9.97128. Next, the area under the "
        "fitted curve over the data's range, t from 0.0 to 10.0, by numerical integration with "
        "these parameters.",
        "The integral from 0.0 to 10.0 is 59.5941 (error estimate 6.48192e-11); over the range "
        "that is an average height of 5.96, against the data's mean 5.93723 (a difference of "
        "0.0222). The characteristic time of the growth curve is the midpoint, where y reaches "
        "L/2 = 4.99; I will solve for that t with a bracketing root finder between 0.0 and "
        "10.0.",
    ]
    assert science_tasks(2, 0) == science_tasks(2, 0)
