"""The health page's call figures, read from the one metrics system: Prometheus (``core.observability.prom``).

Every outcome is counted once, by ``prom.observe_call``; this module only reads those
series back (calls by status, errors by code, spend, retries, latency percentiles, cache hit
rate), per process since it started, the same figures /metrics serves. ``METRICS`` stays
importable under its old name for the recorder (``core.client.pipeline``), whose ``observe`` call
counts nothing now, so no outcome is counted twice.
"""

from __future__ import annotations

import math
from collections import Counter

from core.observability import prom


def _samples(metric, suffix: str):
    """(labels, value) of each sample of ``metric`` whose name ends with ``suffix``."""
    for family in metric.collect():
        for s in family.samples:
            if s.name.endswith(suffix):
                yield s.labels, s.value


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the histogram bucket holding quantile ``q`` (cumulative ``(le, count)`` pairs).

    None without observations; the largest finite bound when the quantile lies past it.
    """
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    rank = q * total
    finite = [le for le, _ in buckets if not math.isinf(le)]
    for le, count in buckets:
        if count >= rank:
            return le if not math.isinf(le) else (finite[-1] if finite else None)
    return finite[-1] if finite else None


class PromFigures:
    """Reads the call figures back from Prometheus, which alone counts them (no second tally)."""

    def snapshot(self) -> dict:
        """Calls by status, errors by code, spend (USD, float), retries, p50/p95 latency (ms, bucket bound)."""
        calls, errors = Counter(), Counter()
        for labels, value in _samples(prom.CALLS, "_total"):
            calls[labels["status"]] += int(value)
            if labels["code"]:
                errors[labels["code"]] += int(value)
        cost = sum(v for _, v in _samples(prom.COST, "_total"))
        retries = sum(int(v) for _, v in _samples(prom.RETRIES, "_total"))
        ok = Counter()
        for labels, value in _samples(prom.DURATION, "_bucket"):
            if labels["status"] == "ok":  # successful calls only, as before: failures end early
                ok[float(labels["le"])] += value
        cache = {labels["result"]: v for labels, v in _samples(prom.CACHE, "_total")}
        lookups = cache.get("hit", 0) + cache.get("miss", 0)

        def ms(q: float) -> float | None:
            s = quantile(list(ok.items()), q)
            return None if s is None else s * 1000
        return {"calls": dict(calls), "errors": dict(errors), "cost_usd": f"{cost:.6f}", "retries": retries,
                "latency_p50_ms": ms(0.5), "latency_p95_ms": ms(0.95),
                "cache_hit_rate": cache.get("hit", 0) / lookups if lookups else None}


METRICS = PromFigures()
