"""Replay a recorded session through a SessionState exactly as a live session is seen."""

from __future__ import annotations

from collections.abc import Iterator

from paste.patterns.state import SessionState
from paste.patterns.trace import Step, Trace


def replay(trace: Trace, state: SessionState | None = None) -> Iterator[tuple[SessionState, Step]]:
    """Yield (state before the call, step) for every tool step; the state then advances.
    Pass `state` to keep it: after the generator is exhausted it holds the whole session."""
    state = state if state is not None else SessionState(env=trace.env, tools=trace.tools)
    for step in trace.steps:
        if step.role == "user":
            state.add_user(step.text)
        elif step.call is not None:
            yield state, step
            state.add_step(step.call, step.output, step.status)
