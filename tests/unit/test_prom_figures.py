"""The health page's call figures are Prometheus's own series read back: one metrics system, nothing counted twice."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.health.figures import METRICS, quantile
from core.observability import prom
from core.types import CallRecord

MODEL = "claude-figures-test"  # a model of its own, so the series this test moves are its own


def record(status: str, *, code: str | None = None, latency_ms: float = 40.0, cost: str = "0") -> CallRecord:
    return CallRecord(id="r", ts=datetime(2026, 1, 1, tzinfo=UTC), user="ana", model=MODEL, status=status,
                      error_code=code, cost_usd=Decimal(cost), latency_ms=latency_ms)


def test_the_figures_move_with_the_prometheus_series_and_only_with_them():
    before = METRICS.snapshot()
    prom.observe_call(record("ok", cost="0.25"), cache_lookup=True, per_user=False)
    prom.observe_call(record("cached"), cache_lookup=True, per_user=False)
    prom.observe_call(record("error", code="overloaded"), cache_lookup=False, per_user=False)
    prom.observe_retry(MODEL, "overloaded")
    after = METRICS.snapshot()
    assert after["calls"]["ok"] == before["calls"].get("ok", 0) + 1
    assert after["calls"]["cached"] == before["calls"].get("cached", 0) + 1
    assert after["errors"]["overloaded"] == before["errors"].get("overloaded", 0) + 1
    assert float(after["cost_usd"]) == pytest.approx(float(before["cost_usd"]) + 0.25, abs=1e-6)
    assert after["retries"] == before["retries"] + 1
    assert after["latency_p50_ms"] is not None and after["cache_hit_rate"] is not None
    assert not hasattr(METRICS, "observe")  # one metrics system: nothing else counts calls, so none twice


@pytest.mark.parametrize("q, expected", [(0.5, 0.05), (0.95, 0.1), (0.1, 0.01), (0.0, 0.01)])
def test_quantile_is_the_bound_of_the_bucket_holding_it(q, expected):
    buckets = [(0.01, 2), (0.05, 10), (0.1, 20), (math.inf, 20)]  # cumulative, as Prometheus keeps them
    assert quantile(buckets, q) == expected


def test_quantile_without_observations_or_past_the_last_bound():
    assert quantile([], 0.5) is None and quantile([(0.1, 0), (math.inf, 0)], 0.5) is None
    assert quantile([(0.1, 1), (math.inf, 4)], 0.95) == 0.1  # the largest finite bound
