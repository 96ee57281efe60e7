"""Replay a recorded session through a SessionState exactly as a live session is seen."""

from __future__ import annotations

from collections.abc import Iterator

from paste.patterns.state import SessionState
from paste.patterns.trace import Step, Trace


def replay(trace: Trace, state: SessionState | None = None,
           turn_text: bool = False) -> Iterator[tuple[SessionState, Step]]:
    """Yield (state before the call, step) for every tool step; the state then advances.
    Pass `state` to keep it: after the generator is exhausted it holds the whole session.
    `turn_text`: the state before a call also holds the assistant text right before it
    (`SessionState.add_turn`), as when the call's name is being decoded; only the first call
    after the text gets it (a trace does not say whether the next call is of the same
    message). By default it is the state at the turn's start."""
    state = state if state is not None else SessionState(
        env=trace.env, tools=trace.tools, params=trace.params, docs=trace.docs, today=trace.today)
    text = ""  # assistant text since the last user message or tool result
    for step in trace.steps:
        if step.role == "user":
            state.add_user(step.text)
            text = ""
        elif step.role == "assistant":
            text = step.text
        elif step.call is not None:
            if turn_text:
                state.add_turn(text)
            yield state, step
            state.add_step(step.call, step.output, step.status)
            text = ""
