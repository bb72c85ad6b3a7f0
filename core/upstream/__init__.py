"""Upstream: one SDK attempt (transport), its deadline, retries, circuit breaker and API keys."""
