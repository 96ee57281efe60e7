"""AdmissionPolicy: may this predicted call run speculatively, now?

A predicted call is admitted only if every check passes, in this order (the first failure is
the reason reported):
  1. effect: the call is pure or read_only (ToolSpec.call_effect: the tool's per-call
     classifier when it has one), or the tool supplies a transaction (its effects are staged
     privately and committed only on a hit, paste.tools.transaction), or a sandbox AND a
     freshness check (a speculative call is visible to the outside world even if its result
     is never used);
  2. policy: the tool's own speculation policy allows these arguments (e.g. destinations);
  3. estimates: the probability, the tool's expected latency and the expected time until the
     model emits the call are all known; a missing estimate fails closed;
  4. value: p * min(tool latency, time until emitted)
              - waste_price * (1 - p) * tool latency - coordination cost > 0
     (a call that is not emitted wastes its tool time; waste_price is what one wasted
     tool-second costs in seconds of user wait saved: 0 = only the coordination cost counts);
  5. waste: the ONE global WasteBudget (speculation/waste.py) has room for the call's
     expected latency within max_waste_ratio (reserved here; the caller settles it when the
     job is claimed or discarded);
  6. cpu: a call of a cpu_bound tool needs fewer than `cpu_slots` cpu_bound jobs running
     across the shared budget (counted here; the caller calls budget.finish_cpu when the job
     ends);
  7. budget: a slot of the ONE global budget is free (acquired here; the caller releases it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paste.speculation.budget import SpeculationBudget
from paste.speculation.config import default_cpu_slots
from paste.speculation.waste import Reservation, WasteBudget
from paste.tools.spec import EffectClass, ToolSpec


@dataclass(frozen=True)
class Candidate:
    """A concrete predicted call with the estimates admission needs (None = unknown)."""

    name: str
    arguments: dict[str, Any]
    canonical: str
    probability: float | None
    expected_latency_s: float | None
    time_until_emitted_s: float | None


@dataclass(frozen=True)
class Decision:
    admitted: bool
    reason: str  # "admitted" or the failed check
    net_value_s: float = 0.0
    cpu: bool = False  # admitted holding a cpu slot (the caller calls budget.finish_cpu)
    reservation: Reservation | None = None  # on the WasteBudget (the caller settles it)


SAFE_EFFECTS = (EffectClass.PURE, EffectClass.READ_ONLY)


class AdmissionPolicy:
    def __init__(self, budget: SpeculationBudget, min_probability: float = 0.0,
                 cpu_slots: int | None = None, waste_price: float = 0.0,
                 waste: WasteBudget | None = None, transactions: bool = True) -> None:
        self.budget = budget
        self.transactions = transactions
        self.waste = waste or WasteBudget(None)
        self.min_probability = min_probability
        self.waste_price = waste_price
        self.cpu_slots = default_cpu_slots() if cpu_slots is None else cpu_slots

    def decide(self, cand: Candidate, spec: ToolSpec, coordination_cost_s: float,
               session_id: str = "") -> Decision:
        """Runs the checks above; on "admitted" one budget slot (and, if `cpu`, one cpu
        count, and `reservation` on the waste budget, for `session_id`) is held by the
        caller."""
        refused = refusal(spec, cand.arguments, self.transactions)
        if refused is not None:
            return Decision(False, refused)
        if None in (cand.probability, cand.expected_latency_s, cand.time_until_emitted_s):
            return Decision(False, "estimates")
        assert cand.probability is not None and cand.expected_latency_s is not None
        assert cand.time_until_emitted_s is not None
        if cand.probability < self.min_probability:
            return Decision(False, "value")
        hidden = min(cand.expected_latency_s, cand.time_until_emitted_s)
        wasted = (1.0 - cand.probability) * cand.expected_latency_s
        value = cand.probability * hidden - self.waste_price * wasted - coordination_cost_s
        if value <= 0:
            return Decision(False, "value", value)
        reservation = self.waste.try_reserve(cand.expected_latency_s, session_id,
                                              cand.probability)
        if reservation is None:
            return Decision(False, "waste", value)
        cpu = bool(spec.cpu_bound)
        if cpu and not self.budget.try_start_cpu(self.cpu_slots):
            self.waste.settle(reservation)
            return Decision(False, "cpu", value)
        if not self.budget.try_acquire():
            if cpu:
                self.budget.finish_cpu()
            self.waste.settle(reservation)
            return Decision(False, "budget", value)
        return Decision(True, "admitted", value, cpu, reservation)


def runs_side_effects_safely(spec: ToolSpec, transactions: bool = True) -> bool:
    """The tool may run calls that are not pure/read_only speculatively: it supplies a
    transaction (and `transactions` is on), or a sandbox and a freshness check."""
    if transactions and spec.transaction is not None:
        return True
    return spec.sandbox is not None and spec.freshness is not None


def refusal(spec: ToolSpec, arguments: dict[str, Any], transactions: bool = True) -> str | None:
    """Checks 1-2 (they depend on the call alone): "effect", "policy", or None if both pass.
    transactions=False: a tool's transaction does not make a side-effecting call speculable."""
    if spec.call_effect(arguments) not in SAFE_EFFECTS and not runs_side_effects_safely(
            spec, transactions):
        return "effect"
    if spec.speculation is not None and not spec.speculation.allows(arguments):
        return "policy"
    return None
