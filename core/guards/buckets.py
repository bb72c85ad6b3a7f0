"""A continuously refilled token bucket, the model Anthropic's own rate limits follow.

A limit of N per minute is a bucket of capacity N refilled at N/60 a second: a full bucket
admits a burst of N, then about one unit every 60/N s. The level may go below zero when a
settled call turns out to have used more than was reserved (the debt delays later calls,
as the server's own bucket would).
"""

from __future__ import annotations

import math
import threading

from core.clock import Clock

# Float rounding must not turn "exactly enough after the computed wait" into a second wait.
_EPS = 1e-6


class TokenBucket:
    """Holds up to ``capacity`` units, refilled at ``refill_per_s`` units a second; thread-safe."""

    def __init__(self, capacity: float, refill_per_s: float, clock: Clock) -> None:
        if not (math.isfinite(capacity) and capacity > 0):
            raise ValueError(f"bucket capacity must be a positive number, not {capacity!r}")
        if not (math.isfinite(refill_per_s) and refill_per_s >= 0):
            raise ValueError(f"refill rate must be a non-negative number, not {refill_per_s!r}")
        self._clock = clock
        self._lock = threading.Lock()
        self._capacity = float(capacity)
        self._refill = float(refill_per_s)
        self._level = self._capacity
        self._t = clock.monotonic()

    @classmethod
    def per_minute(cls, limit: float, clock: Clock) -> TokenBucket:
        """A bucket for a per-minute limit: capacity ``limit``, refilled at ``limit / 60`` a second."""
        return cls(limit, limit / 60.0, clock)

    def _refill_now(self) -> None:
        now = self._clock.monotonic()
        if now > self._t:
            self._level = min(self._capacity, self._level + (now - self._t) * self._refill)
            self._t = now

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def refill_per_s(self) -> float:
        return self._refill

    @property
    def level(self) -> float:
        """Units available now (negative while a debt is being repaid)."""
        with self._lock:
            self._refill_now()
            return self._level

    def time_until(self, amount: float) -> float:
        """Seconds until ``amount`` units are available: 0 now, ``inf`` if it can never fit."""
        with self._lock:
            if amount > self._capacity + _EPS:
                return math.inf
            self._refill_now()
            missing = amount - self._level
            if missing <= _EPS:
                return 0.0
            return missing / self._refill if self._refill > 0 else math.inf

    def take(self, amount: float) -> None:
        """Remove ``amount`` units, even into debt (callers check ``time_until`` first)."""
        with self._lock:
            self._refill_now()
            self._level -= amount

    def give_back(self, amount: float) -> None:
        """Return ``amount`` units that were reserved but not used (never above capacity)."""
        with self._lock:
            self._refill_now()
            self._level = min(self._capacity, self._level + amount)

    def tighten(self, capacity: float | None = None, level: float | None = None) -> bool:
        """Lower the capacity (the refill rate scales with it) and/or the level; never raises either.

        Returns True when something changed.
        """
        with self._lock:
            self._refill_now()
            changed = False
            if capacity is not None and 0 < capacity < self._capacity:
                self._refill *= capacity / self._capacity
                self._capacity = float(capacity)
                changed = True
            if self._level > self._capacity:
                self._level = self._capacity
            if level is not None and level < self._level:
                self._level = float(level)
                changed = True
            return changed

    def snapshot(self) -> dict[str, float]:
        """Capacity, level (units) and refill (units per second) for the health page."""
        with self._lock:
            self._refill_now()
            return {"capacity": self._capacity, "level": self._level, "refill_per_s": self._refill}
