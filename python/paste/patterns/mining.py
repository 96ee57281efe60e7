"""Mining a PatternStore from traces: choose the control-flow configuration and the
next-tool model's weight by cross-validation (cfselect), run the store's three passes over
every session (store.py), then cross-fit the probability calibration (calibration.py) with
stores mined on all but one fold.
"""

from __future__ import annotations

from collections.abc import Iterator

from paste.patterns.calibration import TOP_K, Calibration, cross_fit
from paste.patterns.cfselect import select_config, select_tool_mix, session_events
from paste.patterns.history import SessionHistory
from paste.patterns.predictor import Predictor
from paste.patterns.replay import replay
from paste.patterns.store import PatternStore
from paste.patterns.toolmodel import ToolModel
from paste.patterns.trace import Trace
from paste.patterns.unknowntools import UnknownTools


def mine(traces: list[Trace], tenant: str = "default", min_groups: int = 3,
         calibrate: bool = True, tool_mix: float | None = None) -> PatternStore:
    """A PatternStore from `traces` (all of tenant `tenant`): the control-flow configuration
    is chosen by cross-validation (cfselect.select_config), and so is the weight of the
    next-tool model (cfselect.select_tool_mix; `tool_mix` given: that weight; the model is
    fitted when it is above 0, and the store keeps the sessions so that `update` refits it
    and chooses the weight again: history.py), then each pass over all sessions, then
    (`calibrate`) the probability calibration is cross-fitted (fit_calibration)."""
    unknown = UnknownTools()
    for trace in traces:
        unknown.observe(trace)
    sessions = [session_events(t.steps) for t in traces]
    offered, docs = [t.tools for t in traces], [t.docs for t in traces]
    config = select_config(sessions, offered, unknown.rates()[0], docs)
    order, user_turns, average, weight, name_weight, doc_weight = config
    store = PatternStore(tenant, min_groups, order, user_turns, weight, average, name_weight,
                         doc_weight)
    if tool_mix is None:
        tool_mix = select_tool_mix(sessions, config, offered, unknown.rates()[0], docs)
    if tool_mix > 0.0:
        store.tool_model = ToolModel.fit(sessions)
        store.tool_mix = tool_mix if store.tool_model is not None else 0.0
    store.history = SessionHistory.of(sessions, offered, docs)
    for trace in traces:
        store.observe(trace)
    for trace in traces:
        store.score_rules(trace)
    for trace in traces:
        store.calibrate(trace)
    if calibrate:
        store.calibration, store.calibration_named = fit_calibration(
            traces, tenant, min_groups, store.tool_mix)
    return store


def fit_calibration(traces: list[Trace], tenant: str, min_groups: int,
                    tool_mix: float = 0.0) -> tuple[Calibration, Calibration]:
    """The calibrations of a store mined on `traces`: stores mined (uncalibrated) on all but
    one fold predict the top-K calls at every call of that fold (calibration.cross_fit), once
    as at a turn's start and once given the true call's tool (Predictor.predict's `tool`).
    The fold stores mix their next-tool models at the store's `tool_mix` (not chosen again)."""
    def mine_fold(train: list[Trace]) -> Predictor:
        return Predictor(mine(train, tenant, min_groups, calibrate=False, tool_mix=tool_mix))

    def predict_calls(predictor: Predictor, trace: Trace
                      ) -> Iterator[tuple[int, float, bool]]:
        for which, tool_known in enumerate((False, True)):  # turn start, then name known
            for state, step in replay(trace, turn_text=tool_known):
                call = step.call
                assert call is not None  # replay yields tool steps only
                tool = call.name if tool_known else None
                for pred in predictor.predict(state, TOP_K, tool=tool):
                    yield which, pred.probability, pred.canonical == call.canonical

    start, named = cross_fit(traces, mine_fold, predict_calls, 2)
    return start, named
