"""One contract for every response-cache backend, over real DuckDB files, PostgreSQL and Redis."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from core.cache import CachedResponse, MemoryCache, RedisCache, ResponseCache, SqlCache
from core.clock import FakeClock, SystemClock
from core.ledger.schema import response_cache
from core.types import Usage
from tests.conftest import run_threads

REPO = Path(__file__).resolve().parents[2]
KEY = "a" * 64


def answer(text="a cached answer", cost="0.0000123456") -> CachedResponse:
    return CachedResponse(text=text, model="claude-haiku-5-5",
                          usage=Usage(input_tokens=1200, output_tokens=34, cache_read_tokens=7),
                          stop_reason="end_turn", request_id="req_fake_0001",
                          created_at=datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC),
                          price_version="2026-11-01", cost_usd=Decimal(cost))


@dataclass
class Backend:
    cache: ResponseCache
    expire: object  # expire(ttl_s): let an entry set with ttl_s run out
    ttl_s: float  # the TTL to use in an expiry test


def _controlled(cache, clock: FakeClock) -> Backend:
    return Backend(cache, lambda ttl: clock.advance(ttl + 0.001), 30.0)


@pytest.fixture
def engines():
    made = []
    yield made
    for engine in made:
        engine.dispose()


@pytest.fixture(params=["memory", "duckdb_file", "duckdb_memory",
                        pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("redis", marks=pytest.mark.redis)])
def backend(request, clock, tmp_path, engines) -> Backend:
    kind = request.param
    if kind == "memory":
        return _controlled(MemoryCache(max_entries=16, clock=clock), clock)
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        # Redis keeps time itself: a real, short TTL (PX) and a real, short wait.
        return Backend(RedisCache(url, clock=clock), lambda ttl: time.sleep(ttl + 0.2), 0.5)
    if kind == "duckdb_file":
        engine = sa.create_engine(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    elif kind == "duckdb_memory":
        engine = sa.create_engine("duckdb:///:memory:", poolclass=StaticPool)
    else:
        engine = sa.create_engine(request.getfixturevalue("pg_url"))
    engines.append(engine)
    return _controlled(SqlCache(engine, clock=clock), clock)


# --- the contract, for every backend -------------------------------------------------------

def test_meets_the_protocol(backend):
    assert isinstance(backend.cache, ResponseCache)


def test_round_trip_is_exact(backend):
    original = answer(text="ünïcode ✓ \"quoted\"", cost="0.1234567891")
    backend.cache.set(KEY, original, ttl_s=60)
    got = backend.cache.get(KEY)
    assert got == original
    assert str(got.cost_usd) == "0.1234567891" and isinstance(got.cost_usd, Decimal)
    assert got.created_at.tzinfo is not None


def test_unknown_key_is_a_miss_and_counted(backend):
    assert backend.cache.get("0" * 64) is None
    backend.cache.set(KEY, answer(), ttl_s=60)
    assert backend.cache.get(KEY) is not None
    stats = backend.cache.stats()
    assert stats["hits"] == 1 and stats["misses"] == 1
    assert stats["backend"] in ("memory", "sql", "redis")


def test_set_overwrites(backend):
    backend.cache.set(KEY, answer(text="first"), ttl_s=60)
    backend.cache.set(KEY, answer(text="second", cost="0.5"), ttl_s=60)
    got = backend.cache.get(KEY)
    assert (got.text, got.cost_usd) == ("second", Decimal("0.5"))


def test_ttl_expiry(backend):
    backend.cache.set(KEY, answer(), ttl_s=backend.ttl_s)
    assert backend.cache.get(KEY) is not None
    backend.expire(backend.ttl_s)
    assert backend.cache.get(KEY) is None


def test_overwrite_extends_ttl(backend):
    backend.cache.set(KEY, answer(), ttl_s=backend.ttl_s)
    backend.cache.set(KEY, answer(), ttl_s=600)
    backend.expire(backend.ttl_s)
    assert backend.cache.get(KEY) is not None


def test_delete_and_clear(backend):
    other = "b" * 64
    backend.cache.set(KEY, answer(), ttl_s=60)
    backend.cache.set(other, answer(), ttl_s=60)
    backend.cache.delete(KEY)
    backend.cache.delete("c" * 64)  # deleting a missing key is fine
    assert backend.cache.get(KEY) is None and backend.cache.get(other) is not None
    backend.cache.clear()
    assert backend.cache.get(other) is None


# --- SQL specifics -------------------------------------------------------------------------

def test_sql_table_is_created_on_first_use_not_in_init(tmp_path, clock, engines):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'c.duckdb'}")
    engines.append(engine)
    cache = SqlCache(engine, clock=clock)
    assert not sa.inspect(engine).has_table("response_cache")
    assert cache.get(KEY) is None
    assert sa.inspect(engine).has_table("response_cache")


def test_sql_hit_survives_a_restart(tmp_path, clock):
    path = tmp_path / "ledger.duckdb"
    first = sa.create_engine(f"duckdb:///{path}")
    SqlCache(first, clock=clock).set(KEY, answer(cost="0.0000000001"), ttl_s=3600)
    first.dispose()
    second = sa.create_engine(f"duckdb:///{path}")
    try:
        got = SqlCache(second, clock=clock).get(KEY)
        assert got == answer(cost="0.0000000001")
    finally:
        second.dispose()


def test_sql_expired_rows_are_purged(clock, engines):
    engine = sa.create_engine("duckdb:///:memory:", poolclass=StaticPool)
    engines.append(engine)
    cache = SqlCache(engine, clock=clock, purge_interval_s=0)
    cache.set(KEY, answer(), ttl_s=10)
    clock.advance(11)
    cache.set("b" * 64, answer(), ttl_s=10)  # a set purges what has expired
    with engine.connect() as conn:
        keys = conn.execute(sa.select(response_cache.c.key)).scalars().all()
    assert keys == ["b" * 64]
    assert cache.stats()["size"] == 1


def test_sql_unreadable_row_is_a_miss_and_dropped(clock, engines):
    engine = sa.create_engine("duckdb:///:memory:", poolclass=StaticPool)
    engines.append(engine)
    cache = SqlCache(engine, clock=clock)
    cache.set(KEY, answer(), ttl_s=60)
    with engine.begin() as conn:
        conn.execute(sa.update(response_cache).values(payload="{not json"))
    assert cache.get(KEY) is None
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(response_cache)).scalar_one() == 0


def test_sql_on_one_shared_duckdb_connection_is_thread_safe(clock, engines):
    engine = sa.create_engine("duckdb:///:memory:", poolclass=StaticPool)
    engines.append(engine)
    cache = SqlCache(engine, clock=clock)
    failures = []

    def worker(n):
        for i in range(25):
            key = f"{n:032d}{i:032d}"
            cache.set(key, answer(text=key), ttl_s=60)
            got = cache.get(key)
            if got is None or got.text != key:
                failures.append(key)

    assert run_threads(worker, 4) == []
    assert failures == [] and cache.stats()["errors"] == 0
    assert cache.stats()["size"] == 100


# --- across processes ----------------------------------------------------------------------

_CHILD = """
import json, sys
from datetime import datetime, timezone
from decimal import Decimal
import sqlalchemy as sa
from core.cache import CachedResponse, RedisCache, SqlCache
from core.types import Usage
kind, url, op, key = sys.argv[1:5]
cache = RedisCache(url) if kind == "redis" else SqlCache(sa.create_engine(url))
if op == "set":
    cache.set(key, CachedResponse(text="from the child", model="claude-haiku-5-5",
        usage=Usage(input_tokens=5, output_tokens=2), stop_reason="end_turn", request_id=None,
        created_at=datetime(2026, 11, 22, tzinfo=timezone.utc), price_version="v1",
        cost_usd=Decimal("0.0000000007")), ttl_s=60)
else:
    got = cache.get(key)
    print(json.dumps(None if got is None else {"text": got.text, "cost": str(got.cost_usd)}))
"""


def _child(kind: str, url: str, op: str, key: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", _CHILD, kind, url, op, key], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("redis", marks=pytest.mark.redis)])
def shared(request, engines):
    """(kind, url, a cache in this process) for the backends that several processes share."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return "redis", url, RedisCache(url, clock=SystemClock())
    url = request.getfixturevalue("pg_url")
    engine = sa.create_engine(url)
    engines.append(engine)
    return "sql", url, SqlCache(engine, clock=SystemClock())


def test_a_hit_written_by_another_process_is_read_here(shared):
    kind, url, cache = shared
    _child(kind, url, "set", KEY)
    got = cache.get(KEY)
    assert got is not None and got.text == "from the child"
    assert got.cost_usd == Decimal("0.0000000007")


def test_a_hit_written_here_is_read_by_another_process(shared):
    kind, url, cache = shared
    cache.set(KEY, answer(cost="0.0000000042"), ttl_s=60)
    seen = json.loads(_child(kind, url, "get", KEY))
    assert seen["text"] == "a cached answer" and Decimal(seen["cost"]) == Decimal("0.0000000042")
    assert json.loads(_child(kind, url, "get", "d" * 64)) is None


# --- Redis specifics -----------------------------------------------------------------------

@pytest.mark.redis
def test_redis_ttl_is_set_in_milliseconds_and_clear_keeps_other_prefixes(redis_url, clock):
    import redis

    r = redis.Redis.from_url(redis_url)
    try:
        r.set("someone-else:key", b"keep me")
        cache = RedisCache(r, prefix="tollgate:test[1]:", clock=clock)
        cache.set(KEY, answer(), ttl_s=2.5)
        assert 2000 < r.pttl("tollgate:test[1]:" + KEY) <= 2500
        cache.clear()
        assert r.get("tollgate:test[1]:" + KEY) is None
        assert r.get("someone-else:key") == b"keep me"
    finally:
        r.close()


# --- a broken backend is a miss, never an exception -------------------------------------------

SECRET = "s3cret-fake-password"


@pytest.fixture(params=["postgres", "redis", "duckdb"])
def broken(request, tmp_path, engines, clock):
    if request.param == "redis":
        return RedisCache(f"redis://:{SECRET}@127.0.0.1:1/0", clock=clock)
    if request.param == "postgres":
        url = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/test?connect_timeout=2"
    else:
        url = f"duckdb:///{tmp_path / 'no-such-dir' / 'x.duckdb'}"
    engine = sa.create_engine(url)
    engines.append(engine)
    return SqlCache(engine, clock=clock)


def test_broken_backend_is_a_miss_and_logs_no_secret(broken, clock, caplog):
    caplog.set_level(logging.DEBUG, logger="tollgate.cache")
    broken.set(KEY, answer(), ttl_s=60)
    assert broken.get(KEY) is None
    broken.delete(KEY)
    broken.clear()
    stats = broken.stats()
    assert stats["misses"] == 1 and stats["errors"] >= 1
    assert caplog.records, "the failure should be logged"
    assert SECRET not in caplog.text


def test_broken_backend_is_paused_then_retried(broken, clock):
    assert broken.get(KEY) is None
    errors = broken.stats()["errors"]
    assert errors == 1
    assert broken.get(KEY) is None  # paused: not even tried
    assert broken.stats()["errors"] == errors
    clock.advance(5.0)
    assert broken.get(KEY) is None
    assert broken.stats()["errors"] == errors + 1
