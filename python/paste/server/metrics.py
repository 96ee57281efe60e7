"""ServerMetrics: Prometheus metrics of one app, in a registry of its own (never the global
one, so several apps in one process, as in tests, do not collide).

HTTP side (updated by the server as requests end):
    paste_http_requests_total{route,status}       requests answered, by route template
    paste_turn_duration_seconds                   model turns of /v1 requests, submit -> end
    paste_time_to_first_token_seconds             the same turns' TTFT
    paste_time_per_output_token_seconds           their mean time per token after the first
                                                  (engine-measured; turns of 2+ tokens)
    paste_turns_total{finish_reason}              finished turns: stop | length | tool_calls
    paste_model_requests_total{model}             chat / completions / responses requests by
                                                  "model": a served name or a LoRA adapter
    paste_prompt_tokens_total, paste_cached_prompt_tokens_total, paste_completion_tokens_total
    paste_sessions_open                           native sessions not yet deleted
    paste_sessions_restored_total                 sessions restored from --session-dir at start
    paste_session_journal_failed_writes_total     journal lines that could not be written
    paste_store_journal_failed_writes_total{store}  --response-dir records that could not be
                                                  written (store: responses | conversations)
    paste_tool_calls_total{outcome}               tool calls of native sessions (ok | error)
    paste_tool_duration_seconds                   their run time in the tool
    paste_tool_observed_latency_seconds           call complete -> result available
Engine side (read when scraped, EngineCollector):
    paste_engine_running_sequences, paste_engine_waiting_sequences, paste_engine_parked_sequences
    paste_kv_cache_used_blocks, paste_kv_cache_blocks, paste_kv_cache_usage_ratio
    paste_engine_generated_tokens_total, paste_engine_preemptions_total
    paste_draft_tokens_total, paste_draft_tokens_accepted_total
    paste_prefix_cache_queries_total, paste_prefix_cache_hits_total (vLLM's pair: prompt tokens
    admitted, and of them those whose KV was reused; hit rate = rate(hits) / rate(queries))
    paste_engine_restarts_total, paste_engine_requests_resubmitted_total (engine in its own
    process; the engine counters above start from 0 again in a new engine process, which
    Prometheus' rate() reads as a counter reset)

Speculation of native sessions (read when scraped, SpeculationCollector; all 0 when the server
does not speculate; speculation_metrics.py):
    paste_speculation_authoritative_calls_total, paste_speculation_hits_total{kind},
    paste_speculation_misses_total, paste_speculation_jobs_total,
    paste_speculation_rejections_total{reason}, paste_speculation_cancelled_total,
    paste_speculation_stale_discarded_total, paste_speculation_waste_seconds_total,
    paste_speculation_observed_tool_latency_seconds_total, paste_speculation_budget_in_use,
    paste_speculation_budget_capacity, paste_patterns_learned_runs_total,
    paste_patterns_failed_runs_total, paste_patterns_tenants

The engine values are one `engine.stats()` snapshot (engine/stats.py): with the engine on a
thread, plain reads of the C++ loop while it may be stepping, so one scrape may mix values of
two adjacent steps (each value is itself valid); with the engine in its own process, the
state it sent with its latest step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from paste.engine.stats import engine_stats
from paste.server.speculation_metrics import SpeculationCollector

_TPOT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class EngineCollector:
    """Reads the engine's scheduler state at scrape time (see the module docstring)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        stats = engine_stats(self._engine)
        if stats is None:
            return
        gauges = (
            ("paste_engine_running_sequences", "sequences being computed", stats.num_running),
            ("paste_engine_waiting_sequences", "sequences waiting for admission",
             stats.num_waiting),
            ("paste_engine_parked_sequences", "session sequences parked between turns",
             stats.num_parked),
        )  # fmt: skip
        for name, doc, value in gauges:
            yield GaugeMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily("paste_kv_cache_used_blocks", "KV blocks in use",
                                value=stats.num_used_blocks)
        yield GaugeMetricFamily("paste_kv_cache_blocks", "KV blocks in the pool",
                                value=stats.num_blocks)
        yield GaugeMetricFamily("paste_kv_cache_usage_ratio", "used / total KV blocks",
                                value=stats.kv_usage)
        counters = (
            ("paste_engine_generated_tokens", "tokens generated by the engine",
             stats.num_generated_tokens),
            ("paste_engine_preemptions", "sequences preempted", stats.num_preemptions),
            ("paste_draft_tokens", "speculative-decoding draft tokens verified",
             stats.num_draft_tokens),
            ("paste_draft_tokens_accepted", "draft tokens accepted (each saves one model step)",
             stats.num_accepted_draft_tokens),
            ("paste_prefix_cache_queries", "prompt tokens of sequences at their admission",
             stats.num_admitted_tokens),
            ("paste_prefix_cache_hits", "of which KV was reused (prefix cache or a parked "
             "session)", stats.num_reused_tokens),
        )  # fmt: skip
        for name, doc, value in counters:
            yield CounterMetricFamily(name, doc, value=value)
        restarts = getattr(self._engine, "num_restarts", None)  # a ProcessEngine's
        if restarts is not None:
            yield CounterMetricFamily("paste_engine_restarts",
                                      "engine processes started in place of one that exited",
                                      value=restarts)
            yield CounterMetricFamily(
                "paste_engine_requests_resubmitted",
                "requests in flight at an exit that had given no output, sent to the new "
                "engine process", value=self._engine.num_resubmitted)


class SessionJournalCollector:
    """The native sessions' journal (--session-dir): sessions restored at start, and
    writes that failed (read from the SessionStore when scraped)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("paste_sessions_restored",
                                  "native sessions restored from the journal at start",
                                  value=self._store.num_restored)
        yield CounterMetricFamily("paste_session_journal_failed_writes",
                                  "journal lines that could not be written (the session went "
                                  "on in memory)", value=self._store.num_failed_writes)


class StoreJournalCollector:
    """The --response-dir journals' failed writes, per store (read when scraped; 0 for a
    store without a journal)."""

    def __init__(self, stores: dict[str, Any]) -> None:
        self._stores = stores  # label -> a store with a `journal` (StoreJournal or None)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("paste_store_journal_failed_writes",
                                     "--response-dir records that could not be written (the "
                                     "store went on in memory)", labels=["store"])
        for label, store in self._stores.items():
            journal = store.journal
            family.add_metric([label], journal.num_failed_writes if journal is not None else 0)
        yield family


class ServerMetrics:
    def __init__(self, engine: Any, speculation: Any = None) -> None:
        """speculation: the server's ServerSpeculation (None: it does not speculate)."""
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("paste_http_requests", "HTTP requests answered",
                                ["route", "status"], registry=r)  # fmt: skip
        self.turn_seconds = Histogram("paste_turn_duration_seconds", "model turn duration",
                                      buckets=_LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.ttft_seconds = Histogram("paste_time_to_first_token_seconds", "time to first token",
                                      buckets=_LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.tpot_seconds = Histogram(
            "paste_time_per_output_token_seconds", "mean time per output token after the first",
            buckets=_TPOT_BUCKETS, registry=r)
        self.turns = Counter("paste_turns", "finished model turns", ["finish_reason"],
                             registry=r)
        self.model_requests = Counter(
            "paste_model_requests", "generation requests by model (a served name or a LoRA "
            "adapter)", ["model"], registry=r)
        self.prompt_tokens = Counter("paste_prompt_tokens", "prompt tokens", registry=r)
        self.cached_tokens = Counter("paste_cached_prompt_tokens", "prompt tokens whose KV was reused",
                                     registry=r)  # fmt: skip
        self.completion_tokens = Counter("paste_completion_tokens", "completion tokens", registry=r)
        self.sessions_open = Gauge("paste_sessions_open", "open native sessions", registry=r)
        self.tool_calls = Counter("paste_tool_calls", "tool calls of native sessions",
                                  ["outcome"], registry=r)  # fmt: skip
        self.tool_seconds = Histogram("paste_tool_duration_seconds", "tool run time",
                                      buckets=_LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.tool_observed_seconds = Histogram(
            "paste_tool_observed_latency_seconds", "call complete -> result available",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        r.register(EngineCollector(engine))  # type: ignore[arg-type]
        r.register(SpeculationCollector(speculation))  # type: ignore[arg-type]

    def track_sessions(self, store: Any) -> None:
        """Export `store`'s journal counters (SessionJournalCollector)."""
        self.registry.register(SessionJournalCollector(store))  # type: ignore[arg-type]

    def track_store_journals(self, stores: dict[str, Any]) -> None:
        """Export the failed writes of these stores' journals (StoreJournalCollector)."""
        self.registry.register(StoreJournalCollector(stores))  # type: ignore[arg-type]

    def observe_turn(self, end: Any, duration_s: float) -> None:
        """A finished model turn (generation.TurnEnd)."""
        self.turn_seconds.observe(duration_s)
        if end.ttft_s is not None:
            self.ttft_seconds.observe(end.ttft_s)
        if end.tpot_s is not None:
            self.tpot_seconds.observe(end.tpot_s)
        self.turns.labels(finish_reason=end.finish_reason).inc()
        self.prompt_tokens.inc(end.num_prompt_tokens)
        self.cached_tokens.inc(end.num_cached_tokens)
        self.completion_tokens.inc(end.num_completion_tokens)

    def observe_tool_call(self, ok: bool, timings: dict[str, float] | None) -> None:
        self.tool_calls.labels(outcome="ok" if ok else "error").inc()
        if timings is not None:
            self.tool_seconds.observe(timings["tool_s"])
            self.tool_observed_seconds.observe(timings["observed_s"])

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestCounter:
    """ASGI middleware counting answered requests by route template and status."""

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(route=label, status=str(status[0])).inc()
