"""The console's login check and lock-out: atomic across threads and every console process.

``LoginGuard.login(username, password)`` counts the attempt *before* checking the password
(an insert in the ledger database, or a Redis sorted set), so parallel guesses cannot slip
past the limit: of any number of simultaneous wrong guesses at most ``max_failures`` are
checked. Reaching the limit locks the account for ``lockout_s`` and ends its logins (the
session version moves on). A lock applies to the password hash it was earned against, so
an admin setting a new password lifts it; a successful login forgets earlier failures.
Times are wall-clock epoch seconds from the injected clock (processes share them).
With TOLLGATE_LIMITS=redis the counts follow the shared-state failure mode (``SharedAttempts``).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, select

from core.accounts import users as auth


@dataclass(frozen=True)
class LoginResult:
    status: str  # "ok", "wrong" (unknown user or wrong password) or "locked"
    principal: auth.Principal | None = None
    version: int | None = None  # the session version the new login carries
    retry_after_s: float = 0.0


def _stamp(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


class MemoryAttempts:
    """Per-process counts, for a console without a ledger (and unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tries: dict[str, list[float]] = defaultdict(list)
        self._locks: dict[str, tuple[float, str]] = {}

    def begin(self, user: str, now: float, window_s: float) -> int:
        with self._lock:
            tries = [t for t in self._tries[user] if t > now - window_s] + [now]
            self._tries[user] = tries
            return len(tries)

    def clear(self, user: str) -> None:
        with self._lock:
            self._tries.pop(user, None)

    def lock(self, user: str, until: float, stamp: str, ttl_s: float) -> None:
        with self._lock:
            self._locks[user] = (until, stamp)

    def locked_until(self, user: str, stamp: str) -> float | None:
        with self._lock:
            until, locked = self._locks.get(user, (None, None))
            return until if locked == stamp else None


class SqlAttempts:
    """Counts in the ledger database's ``login_attempts`` table (schema version 4)."""

    def __init__(self, engine) -> None:
        from core.ledger.migrations import migrate
        from core.ledger.schema import login_attempts

        migrate(engine)
        self.engine, self.t = engine, login_attempts

    def begin(self, user: str, now: float, window_s: float) -> int:
        t = self.t
        with self.engine.begin() as conn:  # committed before counting: every later count sees it
            conn.execute(delete(t).where(and_(t.c.username == user, t.c.kind == "attempt",
                                              t.c.at_s <= now - window_s)))
            conn.execute(insert(t).values(id=str(uuid.uuid4()), username=user, kind="attempt", at_s=now))
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t).where(
                and_(t.c.username == user, t.c.kind == "attempt", t.c.at_s > now - window_s))).scalar())

    def clear(self, user: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(self.t).where(and_(self.t.c.username == user, self.t.c.kind == "attempt")))

    def lock(self, user: str, until: float, stamp: str, ttl_s: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(self.t).values(id=str(uuid.uuid4()), username=user, kind="lock", at_s=until,
                                               stamp=stamp))

    def locked_until(self, user: str, stamp: str) -> float | None:
        t = self.t
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(t.c.at_s)).where(and_(
                t.c.username == user, t.c.kind == "lock", t.c.stamp == stamp))).scalar()


class RedisAttempts:
    """Counts in Redis (a sorted set of attempt times per user; MULTI makes add-and-count atomic)."""

    def __init__(self, client, prefix: str = "tollgate:login:") -> None:
        self.r, self.prefix = client, prefix

    def begin(self, user: str, now: float, window_s: float) -> int:
        key = f"{self.prefix}{user}:tries"
        pipe = self.r.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - window_s)
        pipe.zadd(key, {uuid.uuid4().hex: now})
        pipe.zcard(key)
        pipe.expire(key, int(window_s) + 1)
        return int(pipe.execute()[2])

    def clear(self, user: str) -> None:
        self.r.delete(f"{self.prefix}{user}:tries")

    def lock(self, user: str, until: float, stamp: str, ttl_s: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(f"{self.prefix}{user}:lock", stamp, until)
        pipe.expire(f"{self.prefix}{user}:lock", int(ttl_s) + 1)  # Redis's own clock: a relative TTL
        pipe.execute()

    def locked_until(self, user: str, stamp: str) -> float | None:
        raw = self.r.hget(f"{self.prefix}{user}:lock", stamp)
        return None if raw is None else float(raw)


class SharedAttempts:
    """TOLLGATE_LIMITS=redis: counts in Redis for every replica; without Redis the failure mode decides
    (closed: SharedStateUnavailable, the login page says login is unavailable; open: this process's counts)."""

    PART = "login lock-outs"

    def __init__(self, state) -> None:
        self.state = state
        self.redis = RedisAttempts(state.client(), prefix=state.prefix + "login:")
        self.local = MemoryAttempts()

    def _run(self, op: str, *args):
        return self.state.run(self.PART, lambda _r: getattr(self.redis, op)(*args),
                              lambda: getattr(self.local, op)(*args))

    def begin(self, user: str, now: float, window_s: float) -> int:
        return self._run("begin", user, now, window_s)

    def clear(self, user: str) -> None:
        self._run("clear", user)

    def lock(self, user: str, until: float, stamp: str, ttl_s: float) -> None:
        self._run("lock", user, until, stamp, ttl_s)

    def locked_until(self, user: str, stamp: str) -> float | None:
        return self._run("locked_until", user, stamp)


class LoginGuard:
    """Checks passwords; locks an account for ``lockout_s`` after ``max_failures`` wrong ones within
    ``window_s`` (seconds), counted in ``attempts`` (memory, SQL or Redis)."""

    def __init__(self, store: auth.UserStore, *, clock, attempts=None, max_failures: int = 5,
                 window_s: float = 900.0, lockout_s: float = 900.0,
                 check: Callable[[str, str], bool] = auth.check_password) -> None:
        self.store, self.clock, self.check = store, clock, check
        self.attempts = attempts if attempts is not None else MemoryAttempts()
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def locked_for(self, username: str) -> float:
        """Seconds until ``username`` may try again (0 when not locked)."""
        hashed = self.store.password_hash(username)
        if hashed is None:
            return 0.0
        until = self.attempts.locked_until(username, _stamp(hashed))
        return max(0.0, until - self._now()) if until is not None else 0.0

    def login(self, username: str, password: str) -> LoginResult:
        """One login attempt; never raises for bad input (unknown users are simply 'wrong')."""
        username = (username or "").strip().lower()
        hashed, version = self.store.password_hash(username), self.store.session_version(username)
        if hashed is None or version is None:
            return LoginResult("wrong")  # unknown names are not counted: no table of made-up names
        stamp, now = _stamp(hashed), self._now()
        if (wait := self.locked_for(username)) > 0:
            return LoginResult("locked", retry_after_s=wait)
        # Counted per password hash: an admin's new password starts the count afresh.
        tries = self.attempts.begin(f"{username}|{stamp[:16]}", now, self.window_s)
        if tries > self.max_failures:  # the limit was reached by others first: this guess is never checked
            if (wait := self.locked_for(username)) > 0:
                return LoginResult("locked", retry_after_s=wait)
            return self._lock(username, now, stamp)
        if self.check(password or "", hashed):
            self.attempts.clear(f"{username}|{stamp[:16]}")
            return LoginResult("ok", self.store.principal(username), version)
        if tries == self.max_failures:
            return self._lock(username, now, stamp)
        return LoginResult("wrong")

    def _lock(self, username: str, now: float, stamp: str) -> LoginResult:
        self.attempts.lock(username, now + self.lockout_s, stamp, self.lockout_s)
        self.store.revoke(username)  # a locked account's open logins end too
        return LoginResult("locked", retry_after_s=self.lockout_s)


def attempts_for(settings, engine=None):
    """Where lock-out counts live: shared Redis (TOLLGATE_LIMITS=redis, with its failure mode), Redis when
    the cache uses it, else the ledger, else this process."""
    from core.guards.failover import shared_for

    if (state := shared_for(settings)) is not None:
        return SharedAttempts(state)
    if settings.cache == "redis":
        import redis

        return RedisAttempts(redis.Redis.from_url(settings.redis_url, socket_timeout=2.0))
    if engine is not None:
        return SqlAttempts(engine)
    return MemoryAttempts()
