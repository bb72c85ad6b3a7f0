"""The continuously refilled token bucket behind the client-side limits, on a fake clock."""

from __future__ import annotations

import math

import pytest

from core.guards.buckets import TokenBucket


def test_bucket_refills_continuously_up_to_capacity(clock):
    b = TokenBucket.per_minute(60, clock)
    b.take(60)
    assert b.level == pytest.approx(0)
    clock.advance(0.25)
    assert b.level == pytest.approx(0.25)
    clock.advance(2.5)
    assert b.level == pytest.approx(2.75)
    clock.advance(3600)
    assert b.level == 60


def test_bucket_time_until_and_never_fits(clock):
    b = TokenBucket(capacity=100, refill_per_s=4, clock=clock)
    b.take(90)
    assert b.time_until(10) == 0.0
    assert b.time_until(30) == pytest.approx(5.0)
    assert b.time_until(101) == math.inf


def test_bucket_debt_and_give_back_capped(clock):
    b = TokenBucket(capacity=10, refill_per_s=1, clock=clock)
    b.take(15)
    assert b.level == pytest.approx(-5)
    assert b.time_until(1) == pytest.approx(6.0)
    b.give_back(100)
    assert b.level == 10


def test_bucket_tighten_only_lowers(clock):
    b = TokenBucket.per_minute(120, clock)
    assert b.tighten(capacity=60)
    assert (b.capacity, b.refill_per_s, b.level) == (60, pytest.approx(1.0), 60)
    assert not b.tighten(capacity=500, level=80)
    assert (b.capacity, b.level) == (60, 60)
    assert b.tighten(level=7)
    assert b.level == pytest.approx(7)


def test_bucket_rejects_nonsense(clock):
    for capacity, rate in [(0, 1), (-1, 1), (math.inf, 1), (10, -1), (10, math.nan)]:
        with pytest.raises(ValueError):
            TokenBucket(capacity, rate, clock)
