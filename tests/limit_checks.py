"""Limiter scenarios run both by the unit tests (in-process) and by the backend contract (memory and Redis)."""

from __future__ import annotations

import pytest

RPM, ITPM, OTPM = "requests per minute", "input tokens per minute", "output tokens per minute"


def burst_then_refill(lim, clock) -> None:
    """A limiter of 60 requests and 6,000 output tokens a minute admits a full burst without waiting, then
    waits exactly the refill: 1 s for the 61st request, 3 s for 300 tokens at 100 a second."""
    for _ in range(60):
        lim.acquire("ann", 10, 1).release()
    assert clock.sleeps == []
    lim.acquire("ann", 10, 1).release()  # the 61st request needs 1 s of refill
    assert clock.sleeps == [pytest.approx(1.0)]
    clock.advance(60)
    lim.acquire("ann", 0, 6000).release()
    lim.acquire("ann", 0, 300).release()  # 300 tokens at 100 a second
    assert clock.sleeps[-1] == pytest.approx(3.0)
