"""The one place a ``GuardedClient`` is assembled from its collaborators."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from core import observability
from core.budgets.gate import BudgetGate
from core.cache import build_cache
from core.catalog.models import load_catalogue
from core.catalog.pricing import PriceTable
from core.client.guarded import ClientOptions, GuardedClient
from core.client.pipeline import Background, Recorder
from core.client.sinks import (
    BudgetAlertSink,
    LedgerSink,
    LogSink,
    ObserverSink,
    PrometheusSink,
    SentrySink,
    SpanSink,
)
from core.clock import Clock, SystemClock
from core.config import Settings, load_settings, reveal
from core.guards.failover import FailoverLimiter, shared_for
from core.guards.limits import LimitConfig, LimitSpec, RateLimiter
from core.guards.validation import ValidationPolicy
from core.upstream.breaker import CircuitBreaker
from core.upstream.keys import ApiKey, KeyRing
from core.upstream.retry import Retrier, RetryPolicy
from core.upstream.transport import Transport

log = logging.getLogger("tollgate")

# Demo mode talks to the built-in simulator; this placeholder is not a real key and is never sent anywhere else.
DEMO_KEY = ApiKey("demo", "sk-ant-simulator-fake-key-0000")


def snapshot_path(settings: Settings) -> Path:
    """Where the list of budgeted users is kept for ledger outages: beside the spool."""
    return Path(settings.spool_path).with_name("budgets.snapshot.json")


def build_stores(settings: Settings, clock: Clock):
    """The ledger, the budget book and the SQL engine behind them (all None when the ledger is off)."""
    if not settings.ledger_url:
        return None, None, None
    from core.budgets.book import BudgetBook
    from core.ledger.engine import make_engine
    from core.ledger.spool import Spool
    from core.ledger.store import Ledger

    engine = make_engine(settings.ledger_url)
    ledger = Ledger(engine, Spool(settings.spool_path), clock=clock, journal_sync_ms=settings.journal_sync_ms)
    budgets = BudgetBook(engine, tz=settings.budget_tz, thresholds=settings.budget_thresholds, clock=clock,
                         webhook_url=reveal(settings.budget_webhook_url), reservation_ttl_s=settings.reservation_ttl_s,
                         durable_holds=settings.durable_holds)
    return ledger, budgets, engine


def build_recorder(settings: Settings, *, ledger, budgets, pricing, clock: Clock, observer=None) -> Recorder:
    """The recorder and its sinks, in order: the ledger first (durable before anyone hears of it)."""
    background = Background(ledger) if ledger is not None else None
    sinks: list = [LedgerSink(ledger)] if ledger is not None else []
    sinks += [PrometheusSink(per_user=settings.metrics_per_user), SpanSink()]
    if observer is not None:
        sinks.append(ObserverSink(observer))
    sinks += [LogSink(log_prompts=settings.log_prompts), SentrySink()]
    if budgets is not None and background is not None:
        sinks.append(BudgetAlertSink(budgets, background, clock))
    return Recorder(sinks=sinks, budgets=budgets, pricing=pricing, clock=clock,
                    store_prompts=settings.store_prompts, log_prompts=settings.log_prompts, background=background)


def _idempotency(ledger, settings: Settings):
    """The claims on idempotency keys, in the ledger's database (imported here: a start without a ledger stays light)."""
    from core.ledger.idempotency import IdempotencyStore

    return IdempotencyStore(ledger.engine, stale_after_s=settings.idempotency_stale_s)


def _batches(client, transport, ledger):
    """``client.batches``: Message Batches through the guard, on the transport's SDK clients."""
    from core.client.batches import GuardedBatches
    from core.upstream.batches import BatchTransport

    records = None
    if ledger is not None:
        from core.ledger.batches import BatchRecords
        records = BatchRecords(ledger.engine)
    return GuardedBatches(client, BatchTransport(transport), records)


def build_client(settings: Settings | None = None, *, source: str = "library", clock: Clock | None = None,
                 sleep: Callable[[float], None] | None = None, ledger=None, budgets=None, cache=None,
                 use_ledger: bool = True, observer=None, http_client=None, warm_sdk: bool = True) -> GuardedClient:
    """Assemble a guarded client; with no key configured, start and use the built-in simulator.

    Collaborators may be passed in (tests, the console's shared ledger); the rest come from settings.
    ``warm_sdk=False`` leaves the SDK unimported until the first send (the CLI: a refusal returns at once).
    """
    settings = settings or load_settings()
    clock = clock or SystemClock()
    sleep = sleep or time.sleep
    logging.getLogger("tollgate").setLevel(settings.log_level.upper())
    closers = []
    base_url, keys = settings.base_url, list(settings.keys)
    if not keys:
        keys = [DEMO_KEY]
        source = "demo"  # simulated calls are kept apart from real spend in the ledger
        if not base_url:
            from core.simulator import Simulator

            sim = Simulator(ttft_s=settings.sim_ttft_s, tokens_per_s=settings.sim_tokens_per_s,
                            batch_seconds=settings.sim_batch_seconds).start()
            base_url = sim.url
            closers.append(sim.stop)
            log.info("demo mode: no API key configured, calls go to the built-in simulator at %s", sim.url)
    engine = None
    if use_ledger and ledger is None and settings.ledger_url:
        ledger, budgets_built, engine = build_stores(settings, clock)
        budgets = budgets if budgets is not None else budgets_built
    if not use_ledger:
        ledger, budgets = None, None
    catalogue = load_catalogue(tiers=settings.tiers)
    pricing = PriceTable.load(settings.pricing_file, catalogue=catalogue)
    limits = LimitConfig(
        global_=LimitSpec(rpm=settings.rpm, input_tpm=settings.input_tpm, output_tpm=settings.output_tpm,
                          concurrency=settings.concurrency),
        per_user=LimitSpec(rpm=settings.user_rpm, input_tpm=settings.user_input_tpm,
                           output_tpm=settings.user_output_tpm, concurrency=settings.user_concurrency),
        max_wait_s=settings.limit_max_wait_s)
    shared = shared_for(settings)  # TOLLGATE_LIMITS=redis: one Redis and failure mode for every shared part
    if shared is None:
        limiter = RateLimiter(limits, clock=clock, sleep=sleep)
    else:
        limiter = FailoverLimiter(limits, shared, clock=clock, sleep=sleep, lease_s=settings.lease_s)
        closers.append(limiter.close)
    breaker = CircuitBreaker(failure_threshold=settings.breaker_failures, window_s=settings.breaker_window_s,
                             recovery_s=settings.breaker_recovery_s, clock=clock,
                             shared=shared if settings.shared_breaker else None)
    retrier = Retrier(RetryPolicy(max_attempts=settings.max_attempts, base_s=settings.backoff_base_s,
                                  cap_s=settings.backoff_cap_s, deadline_s=settings.retry_deadline_s),
                      clock=clock, sleep=sleep)  # each retry is logged, counted and traced by the client
    transport = Transport(KeyRing(keys, clock=clock, shared=shared), base_url=base_url, timeout_s=settings.timeout_s,
                          connect_timeout_s=settings.connect_timeout_s, monotonic=clock.monotonic,
                          http_client=http_client, stream_idle_timeout_s=settings.stream_idle_timeout_s,
                          stream_timeout_s=settings.stream_timeout_s)
    if warm_sdk:  # build the SDK client now (no request), not in the first call
        transport.sdk(transport.keyring.current())
    closers.append(transport.close)
    if cache is None:
        cache = build_cache(settings.cache, engine=getattr(ledger, "engine", None), redis=settings.redis_url,
                            max_entries=settings.cache_max_entries, clock=clock)
    if engine is not None:  # built here, so closed here (the simulator too, via closers)
        closers.append(engine.dispose)
        closers.append(ledger.close)  # closers run in reverse: the journal is settled before the engine goes
    if ledger is not None and budgets is not None:
        budgets.attach(ledger)  # reports see every row the writer holds; DuckDB: holds counted in memory
    gate = None if budgets is None else BudgetGate(
        budgets=budgets, ledger=ledger, pricing=pricing, clock=clock, margin=settings.estimate_margin,
        budget_file=settings.budget_file, snapshot_path=snapshot_path(settings),
        count_tokens=transport.count_tokens, unbudgeted_ttl_s=settings.unbudgeted_ttl_s)
    client = GuardedClient(
        transport=transport, catalogue=catalogue, pricing=pricing, limiter=limiter, breaker=breaker,
        retrier=retrier, cache=cache, ledger=ledger, budgets=budgets, gate=gate,
        policy=ValidationPolicy(max_prompt_chars=settings.max_prompt_chars,
                                injection_mode=settings.injection_mode),
        options=ClientOptions(default_model=settings.default_model,
                              default_max_tokens=settings.default_max_tokens, cache_ttl_s=settings.cache_ttl_s,
                              cache_sampling=settings.cache_sampling, cache_scope=settings.cache_scope,
                              store_prompts=settings.store_prompts,
                              source=source, log_prompts=settings.log_prompts,
                              metrics_per_user=settings.metrics_per_user, tracing=settings.tracing),
        clock=clock, settings=settings, base_url=base_url, closers=closers,
        recorder=build_recorder(settings, ledger=ledger, budgets=budgets, pricing=pricing, clock=clock,
                                observer=observer),
        idempotency=None if ledger is None else _idempotency(ledger, settings))
    client.batches = _batches(client, transport, ledger)
    observability.attach(client, settings)  # /metrics and /readyz see it; Sentry if SENTRY_DSN
    return client
