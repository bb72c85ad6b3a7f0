"""Schema migrations: fresh, legacy (version 0) with rows, repeated, concurrent, future steps."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.ledger.engine import make_engine
from core.ledger.migrations import STEPS, current_version, migrate
from core.ledger.schema import SCHEMA_VERSION, calls, metadata
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from tests.conftest import run_threads
from tests.integration.test_ledger import make_record

# The calls table as an early release had it: no cache split, no flags, no source/detail.
LEGACY_DDL = """
CREATE TABLE calls (
    id VARCHAR(36) PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    user_id VARCHAR(200) NOT NULL,
    model VARCHAR(100) NOT NULL,
    status VARCHAR(16) NOT NULL,
    error_code VARCHAR(64),
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd NUMERIC(20, 10) NOT NULL,
    latency_ms DOUBLE PRECISION
)"""
LEGACY_ROWS = [
    ("00000000-0000-4000-8000-000000000001", datetime(2025, 3, 1, 9, 0), "ana", "claude-haiku-4-5", "ok",
     None, 1000, 200, Decimal("0.0020000000"), 900.0),
    ("00000000-0000-4000-8000-000000000002", datetime(2025, 3, 2, 23, 30), "bo", "claude-sonnet-4-5",
     "error", "overloaded", 0, 0, Decimal("0"), None),
    ("00000000-0000-4000-8000-000000000003", datetime(2025, 3, 3, 1, 15), "ana", "claude-opus-4-5", "ok",
     None, 5000, 800, Decimal("1.2345678901"), 4100.5),
]


@pytest.fixture(params=["duckdb_file", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return f"duckdb:///{tmp_path / 'legacy.duckdb'}"


def build_legacy(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(LEGACY_DDL))
        conn.execute(sa.text("CREATE INDEX ix_legacy_user ON calls (user_id)"))
        conn.execute(sa.text("INSERT INTO calls VALUES (:id, :ts, :u, :m, :s, :e, :i, :o, :c, :l)"),
                     [dict(zip(["id", "ts", "u", "m", "s", "e", "i", "o", "c", "l"], r, strict=True)) for r in LEGACY_ROWS])
    engine.dispose()


def columns(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'calls'")).scalars())


def versions(engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT version FROM tollgate_schema ORDER BY version")).scalars())


def test_a_legacy_ledger_is_upgraded_without_losing_a_row(url, tmp_path):
    build_legacy(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert current_version(conn) == 0
    assert migrate(engine) == SCHEMA_VERSION
    assert columns(engine) == {c.name for c in calls.columns}
    assert versions(engine) == list(range(1, SCHEMA_VERSION + 1))
    led = Ledger(engine, Spool(tmp_path / "s.spool"), clock=FakeClock())
    for row in LEGACY_ROWS:
        old = led.get(row[0])
        assert (old.ts, old.user, old.model, old.status, old.error_code) == (
            row[1].replace(tzinfo=UTC), row[2], row[3], row[4], row[5])
        assert old.usage.input_tokens == row[6] and old.usage.output_tokens == row[7]
        assert old.cost_usd == row[8] and old.latency_ms == row[9]
        # added columns read as their defaults
        assert old.usage.cache_read_tokens == 0 and old.tokens_saved == 0 and old.retries == 0
        assert old.source == "library" and old.streamed is False and old.unpriced is False
    new = make_record()
    led.record(new)  # the upgraded table takes today's records
    assert led.get(new.id) == new
    assert not led.spool.pending()
    with engine.connect() as conn:
        indexes = {ix.name for ix in calls.indexes}
        if engine.dialect.name == "duckdb":
            names = set(conn.execute(sa.text("SELECT index_name FROM duckdb_indexes() "
                                             "WHERE table_name = 'calls'")).scalars())
        else:
            names = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE "
                                             "schemaname = current_schema() AND tablename = 'calls'"))
                        .scalars())
        assert indexes | {"ix_legacy_user"} <= names  # the legacy index survived the ALTERs
        assert conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one() == 4
    engine.dispose()


def test_migrate_is_idempotent_and_creates_every_table(url):
    engine = make_engine(url)
    assert migrate(engine) == SCHEMA_VERSION
    assert migrate(engine) == SCHEMA_VERSION
    assert versions(engine) == list(range(1, SCHEMA_VERSION + 1))
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    engine.dispose()


def test_concurrent_starts_migrate_once(url):
    engines = [make_engine(url) for _ in range(6)]
    results = []
    errors = run_threads(lambda i: results.append(migrate(engines[i])), len(engines))
    assert not errors and results == [SCHEMA_VERSION] * len(engines)
    assert versions(engines[0]) == list(range(1, SCHEMA_VERSION + 1))
    for e in engines:
        e.dispose()


def test_a_future_version_is_one_function(url, monkeypatch):
    engine = make_engine(url)
    migrate(engine)

    def to_next(conn):
        conn.execute(sa.text("ALTER TABLE calls ADD COLUMN region VARCHAR(16)"))

    nxt = SCHEMA_VERSION + 1
    monkeypatch.setitem(STEPS, nxt, to_next)
    assert migrate(engine, target=nxt) == nxt
    assert migrate(engine, target=nxt) == nxt  # second start: nothing to do
    assert "region" in columns(engine) and versions(engine)[-1] == nxt
    engine.dispose()


def test_a_failed_step_leaves_the_previous_version_intact(url, monkeypatch):
    engine = make_engine(url)
    migrate(engine)
    nxt = SCHEMA_VERSION + 1

    def broken(conn):
        conn.execute(sa.text("ALTER TABLE calls ADD COLUMN half_done INTEGER"))
        raise RuntimeError("step failed")

    monkeypatch.setitem(STEPS, nxt, broken)
    with pytest.raises(RuntimeError, match="step failed"):
        migrate(engine, target=nxt)
    assert versions(engine) == list(range(1, SCHEMA_VERSION + 1))
    assert "half_done" not in columns(engine)  # the step's DDL was rolled back with it
    engine.dispose()


def test_a_ledger_newer_than_the_code_is_refused(url):
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO tollgate_schema VALUES (99, :t)"), {"t": datetime(2030, 1, 1)})
    with pytest.raises(RuntimeError, match="newer"):
        migrate(engine)
    engine.dispose()

