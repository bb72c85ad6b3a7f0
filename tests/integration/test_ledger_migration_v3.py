"""Schema 2 → 3 on a ledger that holds rows: the checklist and probe tables appear, nothing else changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from core.auth import Principal
from core.checklist_store import standing, tick
from core.ledger.engine import make_engine
from core.ledger.migrations import current_version, migrate
from core.ledger.probe import round_trip
from core.ledger.schema import SCHEMA_VERSION, calls


def tables(conn) -> set[str]:
    return set(conn.execute(sa.text("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = current_schema()")).scalars())


@pytest.fixture(params=["duckdb-file", pytest.param("postgres", marks=pytest.mark.postgres)])
def v2_ledger(request, tmp_path):
    """A ledger exactly as version 2 left it, with rows."""
    url = (f"duckdb:///{tmp_path / 'v2.duckdb'}" if request.param == "duckdb-file"
           else request.getfixturevalue("pg_url"))
    engine = make_engine(url)
    assert migrate(engine, target=2) == 2
    with engine.begin() as conn:
        conn.execute(calls.insert(), [
            {"id": str(uuid.uuid4()), "ts": datetime(2026, 11, 1, 9, i), "user_id": "ana",
             "model": "claude-haiku-5-5", "status": "ok", "cost_usd": "0.0000123400", "source": "cli"}
            for i in range(10)])
    yield engine
    engine.dispose()


def test_upgrade_adds_the_tables_and_keeps_rows(v2_ledger):
    with v2_ledger.connect() as conn:
        before = tables(conn)
        assert current_version(conn) == 2 and "checklist_ticks" not in before and "health_probe" not in before
    assert SCHEMA_VERSION >= 3 and migrate(v2_ledger, target=3) == 3
    with v2_ledger.connect() as conn:
        assert tables(conn) == before | {"checklist_ticks", "health_probe"}
        assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 10
    tick(v2_ledger, "https", Principal("alice", "Alice", "admin"), now=datetime(2026, 11, 22, tzinfo=UTC))
    assert standing(v2_ledger)["https"].ticked_by == "alice"
    timing = round_trip(v2_ledger)
    assert timing["write_ms"] > 0 and timing["read_ms"] > 0
    with v2_ledger.connect() as conn:  # the probe wrote its own table, never calls
        assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 10
        assert conn.execute(sa.text("SELECT count(*) FROM health_probe")).scalar() == 1
