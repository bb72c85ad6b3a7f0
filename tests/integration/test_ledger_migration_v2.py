"""Schema 1 → 2 on a ledger that holds rows: latency columns widen to 8-byte floats, nothing is lost."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from core.ledger.migrations import migrate
from core.ledger.schema import SCHEMA_VERSION, calls
from tests.integration.conftest import add_calls


def _type(conn, column: str) -> str:
    return conn.execute(sa.text("SELECT data_type FROM information_schema.columns WHERE table_schema = "
                                "current_schema() AND table_name = 'calls' AND column_name = :c"),
                        {"c": column}).scalar()


@pytest.fixture
def v1_ledger(old_ledger):
    """A ledger as version 1 left it: REAL latency columns, with rows."""
    engine = old_ledger(1, rows=0)
    with engine.begin() as conn:
        for ix in calls.indexes:  # DuckDB alters a column's type only on a table without indexes
            conn.execute(sa.text(f"DROP INDEX {ix.name}"))
        for column in ("latency_ms", "ttft_ms"):
            conn.execute(sa.text(f"ALTER TABLE calls ALTER COLUMN {column} TYPE REAL"))
        for ix in calls.indexes:
            ix.create(conn)
    add_calls(engine, 25, latency_ms=812.5, ttft_ms=120.25)
    return engine


def test_upgrade_widens_latency_and_keeps_rows(v1_ledger):
    with v1_ledger.connect() as conn:
        assert _type(conn, "latency_ms") in ("FLOAT", "real")
    assert SCHEMA_VERSION >= 2 and migrate(v1_ledger) == SCHEMA_VERSION
    precise = 123456.789012
    with v1_ledger.begin() as conn:
        assert _type(conn, "latency_ms") in ("DOUBLE", "double precision")
        assert conn.execute(sa.text("SELECT count(*), sum(latency_ms), min(ttft_ms) FROM calls")).one() == \
            (25, 25 * 812.5, 120.25)
        conn.execute(calls.insert().values(id="precise", ts=datetime(2026, 11, 2), user_id="bo",
                                           model="claude-haiku-5-5", status="ok", latency_ms=precise))
        got = conn.execute(sa.text("SELECT latency_ms FROM calls WHERE id = 'precise'")).scalar()
    assert got == precise  # a REAL column would have kept 123456.79
