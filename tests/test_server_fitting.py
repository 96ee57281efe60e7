"""ProcessFitter (paste.server.fitting): an online fit computed in a spawned child process
equals the store's own fit_online; a fit that raises there raises here; a dead worker is
replaced at the next fit; the server learns the same model with fits in a child or on its
learning thread."""

import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from paste.patterns.errors import PatternStoreError
from paste.patterns.store import PatternStore
from paste.server.fitting import ProcessFitter
from paste.server.predictors import TenantPredictors
from test_patterns_history import FakeSession
from test_patterns_toolmodel import _traces


def _same(a, b) -> None:
    assert (a.config, a.mix, a.fitted, a.selected) == (b.config, b.mix, b.fitted, b.selected)
    assert (a.cf is None) == (b.cf is None) and (a.model is None) == (b.model is None)
    if a.cf is not None:
        assert a.cf.to_json() == b.cf.to_json()
        assert a.cf.distribution(["<s>"]) == b.cf.distribution(["<s>"])  # built
    if a.model is not None:
        assert a.model.to_json() == b.model.to_json()


@pytest.fixture(scope="module")
def fitter():
    fitter = ProcessFitter()
    yield fitter
    fitter.close()


def test_a_fit_in_the_child_equals_the_stores_own(fitter):
    store = PatternStore()
    for trace in _traces()[:8]:
        store.update(trace, refit=False)
    assert store.refresh_due()
    here, there = store.fit_online(), fitter.fit(store)
    assert here.config is not None and here.model is not None  # chosen again, and fitted
    _same(there, here)
    store.set_online(there)
    for trace in _traces()[8:9]:
        store.update(trace, refit=False)
    assert store.refresh_due()  # grown by a tenth: a refit at the weight in force
    here, there = store.fit_online(), fitter.fit(store)
    assert here.config is None and here.model is not None
    _same(there, here)


def test_a_fit_that_raises_in_the_child_raises_here_and_the_fitter_goes_on(fitter):
    store = PatternStore()
    for trace in _traces()[:8]:
        store.update(trace, refit=False)
    assert store.history is not None
    store.history.fitted = 99  # a history the child cannot load
    with pytest.raises(ValueError, match="fitted on 99 of 8 sessions"):
        fitter.fit(store)
    store.history.fitted = 0
    _same(fitter.fit(store), store.fit_online())
    store.history = None
    with pytest.raises(PatternStoreError, match="no session history"):
        fitter.fit(store)


def test_a_dead_worker_is_replaced_at_the_next_fit():
    fitter = ProcessFitter()
    try:
        store = PatternStore()
        for trace in _traces()[:8]:
            store.update(trace, refit=False)
        fitter.fit(store)
        assert fitter._pool is not None
        (pid,) = list(fitter._pool._processes)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            fitter.fit(store)
        _same(fitter.fit(store), store.fit_online())
    finally:
        fitter.close()


@pytest.mark.parametrize("fit_process", [True, False])
def test_the_server_learns_the_same_model_in_a_child_or_on_its_thread(fit_process):
    predictors = TenantPredictors(fit_process=fit_process)
    reference = PatternStore()
    try:
        for n in range(8):
            session = FakeSession(f"r{n}", ("alpha", "beta")[n % 2])
            future = predictors.learn(session, 0)
            assert future is not None and future.result(120)
        store = predictors._tenants["default"][0]
        assert store.tool_model is not None and store.history is not None
        assert (store.history.fitted, store.history.selected) == (8, 8)
        assert predictors.num_failed_runs == 0
        from paste.server.predictors import run_trace

        for n in range(8):
            trace = run_trace(FakeSession(f"r{n}", ("alpha", "beta")[n % 2]).trace(), 0)
            assert trace is not None
            reference.update(trace)
        assert store.tool_model.to_json() == reference.tool_model.to_json()
        assert store.tool_mix == reference.tool_mix
    finally:
        predictors.close()
