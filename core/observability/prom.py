"""Prometheus metrics of guarded calls (``prometheus_client``, the process's default registry).

Per-call series are updated once per outcome by the Recorder (``observe_call``); events
(limiter, breaker, spool, keys) update theirs at the source. What is state rather than a
count (breaker state, calls in flight, spool backlog, budget use) is read from the
registered clients at scrape time, so it costs the calls nothing. Counters are per
process: aggregate replicas with ``sum by (...)`` in PromQL.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

from core.observability import registry
from core.types import USAGE_FIELDS, CallRecord

log = logging.getLogger("tollgate.metrics")

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TOKEN_TYPES = tuple((name.removesuffix("_tokens"), name) for name in USAGE_FIELDS)  # (label, Usage field)

CALLS = Counter("tollgate_calls", "Guarded calls by outcome (ok, error, cached, blocked) and error code.",
                ["model", "status", "code"])
DURATION = Histogram("tollgate_call_duration_seconds", "Guarded call latency, retries and waits included.",
                     ["model", "status"], buckets=_SECONDS)
TTFT = Histogram("tollgate_time_to_first_token_seconds", "Streamed calls: time to the first text.",
                 ["model"], buckets=_SECONDS)
TOKENS = Counter("tollgate_tokens", "Tokens billed, by model and type.", ["model", "type"])
COST = Counter("tollgate_cost_usd", "Spend in USD by model (floating point; the ledger is exact).", ["model"])
USER_COST = Counter("tollgate_user_cost_usd", "Spend in USD by user (TOLLGATE_METRICS_PER_USER=1).", ["user"])
RETRIES = Counter("tollgate_retries", "Retried attempts, by model and the error that caused them.",
                  ["model", "code"])
CACHE = Counter("tollgate_cache_lookups", "Response-cache lookups by result (hit, miss).", ["result"])
LIMITER_WAITS = Counter("tollgate_limiter_waits", "Calls that waited for the client-side limiter.", ["limit"])
LIMITER_WAIT_SECONDS = Counter("tollgate_limiter_wait_seconds", "Time calls spent waiting for the limiter.")
LIMITER_REJECTIONS = Counter("tollgate_limiter_rejections", "Calls the limiter refused (RateLimited).",
                             ["limit"])
BREAKER_TRANSITIONS = Counter("tollgate_breaker_transitions", "Circuit-breaker state changes.", ["to"])
SPOOLED = Counter("tollgate_ledger_spooled_records", "Ledger records written to the spool (ledger down).")
KEY_FAILURES = Counter("tollgate_key_failures", "API keys marked failing after a 401.", ["key"])
SHARED_FALLBACKS = Counter("tollgate_shared_state_fallbacks",
                           "Operations on shared state (limits, lock-outs, breaker, keys) that could not use Redis: "
                           "refused (closed mode) or done by this process alone (local).", ["part", "outcome"])
BUDGET_ALERTS = Counter("tollgate_budget_alerts", "Budget alerts fired, by threshold.", ["threshold_pct"])

# Children per label tuple, so a call pays a dict lookup rather than prometheus_client's label checks.
_children: dict = {}


def _child(metric, *labels):
    key = (id(metric), labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def observe_call(rec: CallRecord, *, cache_lookup: bool, per_user: bool) -> None:
    """Count one outcome: calls, latency, tokens, cost, retries and the cache lookup it made."""
    model, status = rec.model, rec.status
    _child(CALLS, model, status, rec.error_code or "").inc()
    if rec.latency_ms is not None:
        _child(DURATION, model, status).observe(rec.latency_ms / 1000)
    if rec.ttft_ms is not None:
        _child(TTFT, model).observe(rec.ttft_ms / 1000)
    usage = rec.usage
    for kind, attr in TOKEN_TYPES:
        n = getattr(usage, attr)
        if n:
            _child(TOKENS, model, kind).inc(n)
    if rec.cost_usd:
        _child(COST, model).inc(float(rec.cost_usd))
        if per_user:
            _child(USER_COST, rec.user).inc(float(rec.cost_usd))
    if status == "cached":
        _child(CACHE, "hit").inc()
    elif cache_lookup:
        _child(CACHE, "miss").inc()


def observe_retry(model: str, code: str) -> None:
    _child(RETRIES, model, code).inc()


class StateCollector:
    """Gauges read at scrape time from the registered clients: nothing is paid per call."""

    def collect(self):
        clients = registry.clients()
        states = GaugeMetricFamily("tollgate_breaker_state",
                                   "Guarded clients in each circuit-breaker state (1 = this process's client).",
                                   labels=["state"])
        counts = {"closed": 0, "half_open": 0, "open": 0}
        in_flight, backlog, spools, books = 0, 0, set(), {}
        for c in clients:
            try:
                counts[c.breaker.state] = counts.get(c.breaker.state, 0) + 1
                conc = c.limiter.snapshot()["global"]["concurrency"]
                in_flight += conc.get("local_in_use", conc["in_use"])  # shared limits: this process's own calls
                spool = getattr(c.ledger, "spool", None)
                if spool is not None and spool.path not in spools:
                    spools.add(spool.path)
                    backlog += spool.count()
                if c.budgets is not None and getattr(c.settings, "metrics_budget_gauge", False):
                    books[id(c.budgets)] = c.budgets
            except Exception:  # noqa: BLE001 - a scrape must answer even when one client is unwell
                log.warning("metrics: could not read a client's state", exc_info=True)
        for state, n in counts.items():
            states.add_metric([state], n)
        yield states
        yield GaugeMetricFamily("tollgate_calls_in_flight", "Calls admitted and not finished.", value=in_flight)
        yield GaugeMetricFamily("tollgate_ledger_spool_backlog", "Ledger records waiting in the spool.",
                                value=backlog)
        if books:
            yield _budget_gauge(books.values())


def _budget_gauge(books) -> GaugeMetricFamily:
    """Each budgeted user's share of this month's budget used (1.0 = all of it), from the ledger."""
    g = GaugeMetricFamily("tollgate_budget_used_ratio", "Share of the monthly budget spent, per user.",
                          labels=["user"])
    seen = set()
    for book in books:
        try:
            frame = book.status()
        except Exception:  # noqa: BLE001 - the ledger may be down; the other series still answer
            log.warning("metrics: budget status unavailable")
            continue
        for row in frame.itertuples(index=False):
            if row.user_id in seen:
                continue
            seen.add(row.user_id)
            budget = float(row.budget_usd)
            g.add_metric([row.user_id], float(row.spent_usd) / budget if budget else 0.0)
    return g


_installed = threading.Lock()
_collector: StateCollector | None = None


def install_collector() -> None:
    """Register the state collector once per process (called when the first client is built)."""
    global _collector
    with _installed:
        if _collector is None:
            _collector = StateCollector()
            REGISTRY.register(_collector)


def serve_metrics(port: int, addr: str = "0.0.0.0"):
    """Serve /metrics on ``port`` for a library user without the console; returns (server, thread)."""
    install_collector()
    return start_http_server(port, addr=addr, registry=REGISTRY)
