"""Server-side rate limits as Anthropic applies them: continuously refilled token buckets.

Three buckets, each a per-minute limit: requests, input tokens (uncached input plus cache
writes; cache reads do not count) and output tokens (``max_tokens`` is taken when a request
starts and the unused part given back when it ends). Unconfigured limits are not enforced
and are reported as large defaults in the ``anthropic-ratelimit-*`` headers.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, timedelta

# Reported (never enforced) when a limit is not configured.
DEFAULT_LIMITS = {"requests": 4000, "input-tokens": 2_000_000, "output-tokens": 400_000}
_WHAT = {"requests": "requests", "input-tokens": "input tokens", "output-tokens": "output tokens"}


class TokenBucket:
    """Holds up to ``per_minute`` units, refilled at ``per_minute / 60`` a second."""

    def __init__(self, per_minute: float, now: float) -> None:
        if per_minute <= 0:
            raise ValueError("a per-minute limit must be positive")
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0  # units per second
        self._level = self.capacity
        self._t = now

    def level(self, now: float) -> float:
        if now > self._t:
            self._level = min(self.capacity, self._level + (now - self._t) * self.rate)
            self._t = now
        return self._level

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` is available (a full minute when it never fits)."""
        if amount > self.capacity:
            return 60.0
        missing = amount - self.level(now)
        return max(0.0, missing / self.rate)

    def take(self, amount: float, now: float) -> None:
        self._level = self.level(now) - amount

    def give(self, amount: float, now: float) -> None:
        self._level = min(self.capacity, self.level(now) + amount)

    def seconds_to_full(self, now: float) -> float:
        return max(0.0, (self.capacity - self.level(now)) / self.rate)


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused and how long until it would fit (s)."""

    limit: str
    retry_after_s: float
    message: str


class RateLimiter:
    """The simulator's limits; thread-safe. ``clock`` gives ``monotonic()`` and ``now()``."""

    def __init__(self, clock, rpm: float | None = None, input_tpm: float | None = None,
                 output_tpm: float | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limits = {"requests": rpm, "input-tokens": input_tpm, "output-tokens": output_tpm}
        self._buckets: dict[str, TokenBucket] = {}
        self.configure(rpm=rpm, input_tpm=input_tpm, output_tpm=output_tpm)

    def configure(self, **limits) -> None:
        """Set limits (rpm, input_tpm, output_tpm; None removes one); buckets restart full."""
        names = {"rpm": "requests", "input_tpm": "input-tokens", "output_tpm": "output-tokens"}
        with self._lock:
            for arg, value in limits.items():
                if arg not in names:
                    raise ValueError(f"unknown rate limit {arg!r}")
                if value is not None and (not isinstance(value, int | float) or value <= 0):
                    raise ValueError(f"{arg} must be a positive number or null")
                self._limits[names[arg]] = value
            now = self._clock.monotonic()
            self._buckets = {name: TokenBucket(v, now) for name, v in self._limits.items() if v}

    def limits(self) -> dict[str, float | None]:
        return {"rpm": self._limits["requests"], "input_tpm": self._limits["input-tokens"],
                "output_tpm": self._limits["output-tokens"]}

    def reset(self) -> None:
        self.configure()

    def admit(self, input_tokens: int, max_tokens: int) -> Refusal | None:
        """Take one request, its input and ``max_tokens`` output, or refuse without taking."""
        need = {"requests": 1, "input-tokens": input_tokens, "output-tokens": max_tokens}
        with self._lock:
            now = self._clock.monotonic()
            for name, bucket in self._buckets.items():
                wait = bucket.wait_for(need[name], now)
                if wait > 0:
                    limit = int(bucket.capacity)
                    return Refusal(name, wait, f"This request would exceed your organization's rate "
                                               f"limit of {limit:,} {_WHAT[name]} per minute (simulated).")
            for name, bucket in self._buckets.items():
                bucket.take(need[name], now)
        return None

    def settle(self, max_tokens: int, output_tokens: int) -> None:
        """Give back the output tokens reserved but not produced."""
        with self._lock:
            bucket = self._buckets.get("output-tokens")
            if bucket is not None and max_tokens > output_tokens:
                bucket.give(max_tokens - output_tokens, self._clock.monotonic())

    def headers(self) -> dict[str, str]:
        """The ``anthropic-ratelimit-*`` headers: limit, remaining and reset (RFC 3339 UTC)."""
        out: dict[str, str] = {}
        with self._lock:
            now = self._clock.monotonic()
            wall = self._clock.now()
            state = {}
            for name, default in DEFAULT_LIMITS.items():
                bucket = self._buckets.get(name)
                if bucket is None:
                    state[name] = (default, default, 0.0)
                else:
                    state[name] = (int(bucket.capacity), max(0, math.floor(bucket.level(now))),
                                   bucket.seconds_to_full(now))
        # "tokens" reports whichever token limit is closest to running out.
        state["tokens"] = min(state["input-tokens"], state["output-tokens"], key=lambda s: s[1])
        for name, (limit, remaining, to_full) in state.items():
            prefix = f"anthropic-ratelimit-{name}"
            out[f"{prefix}-limit"] = str(limit)
            out[f"{prefix}-remaining"] = str(remaining)
            out[f"{prefix}-reset"] = rfc3339(wall + timedelta(seconds=math.ceil(to_full)))
        return out


def rfc3339(moment) -> str:
    """An aware datetime as RFC 3339 UTC with a Z, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
