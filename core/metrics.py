"""In-process metrics of guarded calls: counts by status, spend and latency, for the health page."""

from __future__ import annotations

import threading
from collections import Counter, deque
from decimal import Decimal

from core.types import CallRecord


class Metrics:
    """Counters since the process started, and the last 1,000 latencies (ms) for percentiles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.by_status: Counter = Counter()
            self.by_code: Counter = Counter()
            self.cost_usd = Decimal(0)
            self.retries = 0
            self.latencies: deque[float] = deque(maxlen=1000)

    def observe(self, rec: CallRecord) -> None:
        with self._lock:
            self.by_status[rec.status] += 1
            if rec.error_code:
                self.by_code[rec.error_code] += 1
            self.cost_usd += rec.cost_usd
            self.retries += rec.retries
            if rec.status == "ok" and rec.latency_ms is not None:
                self.latencies.append(rec.latency_ms)

    def snapshot(self) -> dict:
        with self._lock:
            lat = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None
        return {"calls": dict(self.by_status), "errors": dict(self.by_code), "cost_usd": str(self.cost_usd),
                "retries": self.retries, "latency_p50_ms": pct(0.5), "latency_p95_ms": pct(0.95)}


METRICS = Metrics()
