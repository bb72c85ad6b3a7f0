"""Shared fixtures: external services that skip with a reason, or fail when REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from core.clock import FakeClock

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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pg_url() -> str:
    """A PostgreSQL URL with a fresh schema of its own, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as c:
        c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


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
