"""Time, injected: the real clock for production, a fake one for tests that never sleep."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


def naive_utc(ts: datetime | None = None) -> datetime:
    """The ledger's timestamp form, naive UTC: an aware time converted, a naive one kept (taken as UTC), None now."""
    if ts is None:
        ts = datetime.now(UTC)
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


class Clock(Protocol):
    def monotonic(self) -> float: ...  # seconds, for intervals
    def now(self) -> datetime: ...  # aware UTC, for records and calendar months


class SystemClock:
    """The machine's clocks."""

    monotonic = staticmethod(time.monotonic)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told; ``sleep`` advances it (pass it as the sleep)."""

    def __init__(self, start: float = 1_000.0,
                 wall: datetime = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)) -> None:
        self._t = start
        self._wall0 = wall
        self._start = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        from datetime import timedelta
        return self._wall0 + timedelta(seconds=self._t - self._start)

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._t += max(0.0, seconds)
