"""SpeculationCollector: the engine's speculation counters as Prometheus metrics, read when
scraped from the server's ServerSpeculation (one SpeculationMetrics for every session).

    paste_speculation_authoritative_calls_total     calls the models of speculating sessions emitted
    paste_speculation_hits_total{kind}              promoted | awaited | reused
    paste_speculation_misses_total                  emitted calls no speculative job answered
    paste_speculation_miss_causes_total{cause}      the misses by cause (speculation/
                                                    misscause.py): not_speculable | policy |
                                                    discarded | estimates | value | waste |
                                                    cpu | budget | unpredicted
    paste_speculation_jobs_total                    speculative jobs launched
    paste_speculation_chained_jobs_total            of which after a speculative result
    paste_speculation_lookahead_jobs_total          of which beside an emitted read-only call
    paste_speculation_named_jobs_total              of which once a call's tool name was decoded
    paste_speculation_rejections_total{reason}      predictions not launched: effect | policy |
                                                    estimates | value | waste | cpu | budget |
                                                    unknown_tool
    paste_speculation_cancelled_total               unused jobs dropped (session end, TTL)
    paste_speculation_stale_discarded_total         jobs made stale by a side-effecting call
    paste_speculation_committed_total               hits that committed a transaction's
                                                    staged side effects
    paste_speculation_commit_failures_total         transactional hits whose commit raised
                                                    (the call then ran for real)
    paste_speculation_waste_seconds_total           tool-seconds of speculation never used
    paste_speculation_observed_tool_latency_seconds_total
                                                    sum of call complete -> result available
    paste_speculation_budget_in_use, _capacity      the ONE global budget (gauges)
    paste_speculation_used_tool_seconds_total       tool-seconds of results sessions consumed
                                                    (the waste budget's denominator)
    paste_speculation_waste_at_risk_seconds         expected latency of the speculative jobs in
                                                    flight, counted against the waste budget
    paste_speculation_waste_overrun                 realized waste / reserved latency of the
                                                    wasted jobs (>= 1; scales the budget's risk)
    paste_patterns_learned_runs_total               completed runs learned online
    paste_patterns_failed_runs_total                runs whose online update failed
    paste_patterns_tenants                          tenants with a pattern store (gauge)

Every metric is present, at 0, when the server does not speculate, so dashboards and ablation
comparisons read the same names either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from paste.speculation.metrics import SpeculationCounts
from paste.speculation.misscause import CAUSES

HIT_KINDS = ("promoted", "awaited", "reused")
REJECTION_REASONS = ("effect", "policy", "estimates", "value", "waste", "cpu", "budget",
                     "unknown_tool")
_COUNTERS = (
    ("authoritative_calls", "paste_speculation_authoritative_calls",
     "tool calls emitted by the models of speculating sessions"),
    ("misses", "paste_speculation_misses", "emitted calls no speculative job answered"),
    ("speculative_jobs", "paste_speculation_jobs", "speculative jobs launched"),
    ("chained_jobs", "paste_speculation_chained_jobs",
     "speculative jobs launched after another speculative result"),
    ("lookahead_jobs", "paste_speculation_lookahead_jobs",
     "speculative jobs launched beside an emitted read-only call"),
    ("named_jobs", "paste_speculation_named_jobs",
     "speculative jobs launched once a call's tool name was decoded"),
    ("cancelled", "paste_speculation_cancelled", "unused speculative jobs dropped"),
    ("stale_discarded", "paste_speculation_stale_discarded",
     "speculative jobs made stale by a side-effecting call"),
    ("waste_cut", "paste_speculation_waste_cut",
     "passed-over speculative jobs cancelled while over the waste bound"),
    ("committed", "paste_speculation_committed",
     "hits that committed a transaction's staged side effects"),
    ("commit_failures", "paste_speculation_commit_failures",
     "transactional hits whose commit raised (the call then ran for real)"),
    ("waste_s", "paste_speculation_waste_seconds", "tool-seconds of unused speculation"),
    ("observed_tool_latency_s", "paste_speculation_observed_tool_latency_seconds",
     "sum over emitted calls of call complete -> result available"),
)  # fmt: skip


def _by_label(name: str, doc: str, label: str, known: tuple[str, ...],
              counts: dict[str, int]) -> CounterMetricFamily:
    """A counter family with one sample per label value: every `known` value (0 when not
    counted, so dashboards always find it) and any other value counted."""
    family = CounterMetricFamily(name, doc, labels=[label])
    for value in sorted(set(known) | set(counts)):
        family.add_metric([value], float(counts.get(value, 0)))
    return family


class SpeculationCollector:
    def __init__(self, speculation: Any) -> None:
        self._speculation = speculation  # ServerSpeculation or None

    def collect(self) -> Iterator[Metric]:
        sp = self._speculation
        counts: dict[str, Any] = (sp.snapshot() if sp is not None
                                  else SpeculationCounts(rejected={}).as_dict())  # fmt: skip
        for key, name, doc in _COUNTERS:
            yield CounterMetricFamily(name, doc, value=float(counts[key]))
        hits = CounterMetricFamily("paste_speculation_hits", "emitted calls answered by a "
                                   "speculative job, by kind", labels=["kind"])  # fmt: skip
        for kind in HIT_KINDS:
            hits.add_metric([kind], float(counts[f"hits_{kind}"]))
        yield hits
        yield _by_label("paste_speculation_rejections",
                        "predictions not launched, by the failed check", "reason",
                        REJECTION_REASONS, counts["rejected"])  # fmt: skip
        yield _by_label("paste_speculation_miss_causes",
                        "emitted calls no speculative job answered, by cause", "cause",
                        CAUSES, counts["miss_causes"])  # fmt: skip
        in_use, capacity = (counts["budget_in_use"], counts["budget_capacity"]) if sp else (0, 0)
        yield GaugeMetricFamily("paste_speculation_budget_in_use",
                                "speculative jobs holding a budget slot", value=in_use)  # fmt: skip
        yield GaugeMetricFamily("paste_speculation_budget_capacity",
                                "the global cap on speculative jobs", value=capacity)  # fmt: skip
        waste = sp.shared.waste.snapshot() if sp is not None else {}
        yield CounterMetricFamily("paste_speculation_used_tool_seconds",
                                  "tool-seconds of results the sessions consumed",
                                  value=float(waste.get("used_s") or 0.0))  # fmt: skip
        yield GaugeMetricFamily("paste_speculation_waste_at_risk_seconds",
                                "expected latency of the speculative jobs in flight",
                                value=float(waste.get("at_risk_s") or 0.0))  # fmt: skip
        yield GaugeMetricFamily("paste_speculation_waste_overrun",
                                "realized waste / reserved latency of the wasted speculative jobs",
                                value=float(waste.get("overrun") or 0.0))  # fmt: skip
        predictors = sp.predictors if sp is not None else None
        learned = predictors.num_learned_runs if predictors is not None else 0
        failed = predictors.num_failed_runs if predictors is not None else 0
        tenants = len(predictors.tenants()) if predictors is not None else 0
        yield CounterMetricFamily("paste_patterns_learned_runs",
                                  "completed session runs learned online", value=learned)  # fmt: skip
        yield CounterMetricFamily("paste_patterns_failed_runs",
                                  "session runs whose online update failed", value=failed)  # fmt: skip
        yield GaugeMetricFamily("paste_patterns_tenants", "tenants with a pattern store",
                                value=tenants)  # fmt: skip
