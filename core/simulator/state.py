"""The simulator's mutable state behind one facade: config, keys, stats, faults, cache, limits.

Shared by every request thread and by the control endpoints; each part locks for itself.
Rejected keys are held only as SHA-256 digests so no key is kept, shown or logged.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter

from .batches import BatchBook
from .catalogue import Catalogue
from .faults import FaultScript, parse_fault
from .prompt_cache import PromptCache
from .ratelimit import RateLimiter

CONFIG_KEYS = ("ttft_s", "tokens_per_s", "timeout_hold_s", "rpm", "input_tpm", "output_tpm",
               "reject_keys", "count_tokens_fault", "service_tier", "batch_seconds")
SERVICE_TIERS = (None, "standard", "priority", "batch")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Stats:
    """Counters for /_sim/stats.

    A reset starts a new generation: a request that arrived before it (a slow fault still being
    answered) is not counted after it, so a test's figures hold only its own requests.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self.total = 0
            self.messages = 0
            self.streams = 0
            self.rate_limited = 0
            self.paths: Counter[str] = Counter()
            self.statuses: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()

    def request(self, path: str) -> int:
        """Count a request's arrival; returns the generation its later counts belong to."""
        with self._lock:
            self.total += 1
            self.paths[path] += 1
            if path == "/v1/messages":
                self.messages += 1
            return self.generation

    def status(self, code: int, gen: int | None = None) -> None:
        with self._lock:
            if gen is None or gen == self.generation:
                self.statuses[str(code)] += 1

    def fault(self, kind: str, gen: int | None = None) -> None:
        with self._lock:
            if gen is None or gen == self.generation:
                self.faults[kind] += 1

    def stream(self, gen: int | None = None) -> None:
        with self._lock:
            if gen is None or gen == self.generation:
                self.streams += 1

    def limited(self, gen: int | None = None) -> None:
        with self._lock:
            if gen is None or gen == self.generation:
                self.rate_limited += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"total_requests": self.total, "paths": dict(self.paths),
                    "messages_requests": self.messages, "stream_requests": self.streams,
                    "faults_served": sum(self.faults.values()), "faults": dict(self.faults),
                    "rate_limited": self.rate_limited, "statuses": dict(self.statuses)}


class SimState:
    """Everything a request handler reads or changes; ``clock`` has monotonic() and now()."""

    def __init__(self, *, catalogue: Catalogue, clock, sleep, ttft_s: float, tokens_per_s: float,
                 timeout_hold_s: float, rpm, input_tpm, output_tpm, reject_keys, verbose: bool,
                 batch_seconds: float = 2.0) -> None:
        self.catalogue = catalogue
        self.clock = clock
        self.sleep = sleep
        self.verbose = verbose
        self.stats = Stats()
        self.script = FaultScript()
        self.cache = PromptCache(clock)
        self.limiter = RateLimiter(clock, rpm=rpm, input_tpm=input_tpm, output_tpm=output_tpm)
        self._lock = threading.Lock()
        self.ttft_s = self.tokens_per_s = self.timeout_hold_s = 0.0
        self._rejected: set[str] = set()
        self.count_tokens_fault: str | None = None  # a fault kind every count_tokens request gets
        self.service_tier: str | None = None  # the tier usage reports (None: "standard"; a header overrides)
        self.batches = BatchBook(self)  # Message Batches: how long one stays in progress is batch_seconds
        self.configure(ttft_s=ttft_s, tokens_per_s=tokens_per_s, timeout_hold_s=timeout_hold_s,
                       reject_keys=reject_keys, batch_seconds=batch_seconds)

    # --- keys ---------------------------------------------------------------------

    def key_rejected(self, key: str) -> bool:
        with self._lock:
            return key_digest(key) in self._rejected

    # --- config -------------------------------------------------------------------

    def configure(self, **changes) -> dict:
        """Apply a partial config (see CONFIG_KEYS); ValueError on an unknown key or bad value."""
        unknown = set(changes) - set(CONFIG_KEYS)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(CONFIG_KEYS)}")
        floats = {}
        for name in ("ttft_s", "tokens_per_s", "timeout_hold_s", "batch_seconds"):
            if name in changes:
                value = changes[name]
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{name} must be a non-negative number")
                floats[name] = float(value)
        keys = None
        if "reject_keys" in changes:
            raw = changes["reject_keys"] or ()
            if isinstance(raw, str) or not all(isinstance(k, str) for k in raw):
                raise ValueError("reject_keys must be a list of strings")
            keys = {key_digest(k) for k in raw}
        if changes.get("count_tokens_fault") is not None:
            parse_fault(changes["count_tokens_fault"])  # ValueError names a bad kind
        if changes.get("service_tier") not in SERVICE_TIERS:
            raise ValueError("service_tier must be null, 'standard', 'priority' or 'batch'")
        limits = {k: changes[k] for k in ("rpm", "input_tpm", "output_tpm") if k in changes}
        if limits:
            self.limiter.configure(**limits)
        with self._lock:
            for name, value in floats.items():
                if name == "batch_seconds":
                    self.batches.seconds = value
                else:
                    setattr(self, name, value)
            if keys is not None:
                self._rejected = keys
            if "count_tokens_fault" in changes:
                self.count_tokens_fault = changes["count_tokens_fault"]
            if "service_tier" in changes:
                self.service_tier = changes["service_tier"]
        return self.config()

    def config(self) -> dict:
        """The current config; rejected keys only as a count."""
        with self._lock:
            return {"ttft_s": self.ttft_s, "tokens_per_s": self.tokens_per_s,
                    "timeout_hold_s": self.timeout_hold_s, **self.limiter.limits(),
                    "reject_keys": len(self._rejected), "count_tokens_fault": self.count_tokens_fault,
                    "service_tier": self.service_tier, "batch_seconds": self.batches.seconds}

    def latency(self) -> tuple[float, float]:
        """Seconds before the first token and between tokens."""
        with self._lock:
            per_token = 1.0 / self.tokens_per_s if self.tokens_per_s > 0 else 0.0
            return self.ttft_s, per_token

    # --- control ------------------------------------------------------------------

    def reset(self) -> None:
        """Clear the fault script, the stats, the prompt cache and the rate-limit buckets."""
        self.script.clear()
        with self._lock:
            self.count_tokens_fault = None
            self.service_tier = None
        self.stats.clear()
        self.cache.clear()
        self.batches.clear()
        self.limiter.reset()

    def snapshot(self) -> dict:
        return {**self.stats.snapshot(), "pending_faults": len(self.script.pending())}
