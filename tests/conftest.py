"""Shared fixtures: external services that skip with a reason, or fail when REQUIRE_SERVICES=1."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from core.clock import FakeClock

# Property tests explore new inputs on a developer's machine; under CI they replay the same examples, so a
# green run stays green (a new finding is fixed and pinned as a regression test, not met at random in CI).
try:
    from hypothesis import settings as _hypothesis

    _hypothesis.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        _hypothesis.load_profile("ci")
except ImportError:  # hypothesis is a dev dependency
    pass

PG_URL = os.environ.get("TOLLGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TOLLGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is missing, or fail if the run demands every service."""
    if _reachable(host, port):
        return
    msg = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(msg + " and REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(msg)


def run_threads(target: Callable[[int], object], n: int, timeout_s: float | None = None) -> list[Exception]:
    """Run ``target(i)`` on ``n`` threads released together; what they raised, for the test to assert on."""
    barrier, errors = threading.Barrier(n, timeout=timeout_s), []

    def run(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except Exception as exc:  # a thread's failure must fail the test, so it is handed back
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    stuck = sum(t.is_alive() for t in threads)
    return errors + ([TimeoutError(f"{stuck} of {n} threads still running")] if stuck else [])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@contextlib.contextmanager
def pg_schema(prefix: str = "t_") -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped on exit."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    schema = prefix + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        # A client the test has not closed yet (its background writer mid-transaction) can deadlock the
        # DROP; PostgreSQL aborts one side, so try again a few times rather than fail the teardown.
        for attempt in range(5):
            try:
                with admin.connect() as c:
                    c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                break
            except sa.exc.OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        admin.dispose()


@pytest.fixture
def pg_url() -> str:
    """A PostgreSQL URL with a fresh schema of its own, dropped afterwards."""
    with pg_schema() as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    yield REDIS_URL
    r.flushdb()
    r.close()


def pytest_unconfigure(config):
    """Free DuckDB connections before the interpreter exits (its bindings report them as leaks)."""
    import gc

    gc.collect()
