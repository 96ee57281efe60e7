"""The replay modes: which of paste's mechanisms each one switches on.

| mode | speculation | early dispatch | KV retention | co-scheduling | tool latency |
|---|---|---|---|---|---|
| serial | off | off | off | off | seeded model |
| paste | on | on | on | on | seeded model |
| oracle | off | on | on | on | 0 (every result ready when its call is complete) |
| paste-no-spec | off | on | on | on | seeded model |
| paste-no-early | on | off | on | on | seeded model |
| paste-no-kv | on | on | off | on | seeded model |
| paste-no-cosched | on | on | on | off | seeded model |
| paste-no-lookahead | on, but no call speculated beside an emitted read-only call | on | on | on | seeded model |
| paste-name | on, and also when a call's tool name is decoded (off in paste) | on | on | on | seeded model |
| paste-perfect | on, with the session's true next call (p = 1, perfect.py) | on | on | on | seeded model |
| paste-drafts | on, and speculative decoding (drafts from prompt lookup and predicted calls) | on | on | on | seeded model |
| serial-drafts | off, but speculative decoding (what drafts alone do) | off | off | off | seeded model |
| oracle-drafts | off, but speculative decoding | on | on | on | 0 |

Co-scheduling (paste.session.priority.CoSchedulingPolicy, its defaults): a turn returning
from tools gets a priority boost in the engine's queue. It only matters when turns queue,
i.e. with `--max-batch` (load beyond saturation); otherwise every turn is admitted at once.

paste-perfect is not an ablation but a ceiling: what speculation could capture of the
serial->oracle gap if every next call were predicted exactly.

paste-drafts adds speculative decoding (ReplayConfig.num_draft_tokens per step): each forced
turn accepts the drafts its recorded text continues with, so the model steps saved are those
prompt lookup and the predicted calls would save on the recorded agent turns. With a
SimulatedEngine a drafted step costs one plain step (the GPU assumption, sim_engine.py);
it drafts like the engine, a predicted call while the model writes it, else prompt lookup.
serial-drafts is serial plus the drafts: what speculative decoding alone gives, for
attribution. oracle-drafts is the ceiling of a drafting engine: its model time is that of
paste-drafts' engine, so the share of the serial->oracle gap a drafting mode captured is
measured against it when it ran (report.py), not against the oracle without drafts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paste.errors import InvalidArgumentError


@dataclass(frozen=True)
class Mode:
    name: str
    speculation: bool
    early_dispatch: bool
    kv_retention: bool
    oracle: bool = False
    perfect_prediction: bool = False  # the predictor knows the replayed script (perfect.py)
    lookahead: bool = True  # SpeculationConfig.lookahead (when speculation is on)
    name_known: bool = False  # SpeculationConfig.name_known (when speculation is on)
    coscheduling: bool = True  # returning turns boosted (paste.session.priority)
    drafts: bool = False  # speculative decoding (engine/drafts.py; sim_engine.decode_steps)


def coscheduling_policy(mode: Mode) -> Any:
    """The session's CoSchedulingPolicy in `mode` (its defaults), or None when it is off."""
    if not mode.coscheduling:
        return None
    from paste.session.priority import CoSchedulingPolicy

    return CoSchedulingPolicy()


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("serial", False, False, False, coscheduling=False),
        Mode("paste", True, True, True),
        Mode("oracle", False, True, True, oracle=True),
        Mode("paste-no-spec", False, True, True),
        Mode("paste-no-early", True, False, True),
        Mode("paste-no-kv", True, True, False),
        Mode("paste-no-cosched", True, True, True, coscheduling=False),
        Mode("paste-no-lookahead", True, True, True, lookahead=False),
        Mode("paste-name", True, True, True, name_known=True),
        Mode("paste-perfect", True, True, True, perfect_prediction=True),
        Mode("paste-drafts", True, True, True, drafts=True),
        Mode("serial-drafts", False, False, False, coscheduling=False, drafts=True),
        Mode("oracle-drafts", False, True, True, oracle=True, drafts=True),
    )
}


def parse_modes(text: str) -> list[Mode]:
    """`serial,paste,oracle` -> Modes in the given order (InvalidArgumentError if unknown)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown or not names:
        raise InvalidArgumentError(
            f"unknown mode(s) {', '.join(unknown) or '(none)'}; known: {', '.join(MODES)}"
        )
    return [MODES[n] for n in dict.fromkeys(names)]
