"""Schema 3 → 4 on a ledger that holds rows: the login lock-out table appears, nothing else changes."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.ledger.engine import make_engine
from core.ledger.migrations import current_version, migrate
from core.ledger.schema import calls
from core.lockout import SqlAttempts


def tables(conn) -> set[str]:
    return set(conn.execute(sa.text("SELECT table_name FROM information_schema.tables "
                                    "WHERE table_schema = current_schema()")).scalars())


@pytest.fixture(params=["duckdb-file", pytest.param("postgres", marks=pytest.mark.postgres)])
def v3_ledger(request, tmp_path):
    url = (f"duckdb:///{tmp_path / 'v3.duckdb'}" if request.param == "duckdb-file"
           else request.getfixturevalue("pg_url"))
    engine = make_engine(url)
    assert migrate(engine, target=3) == 3
    with engine.begin() as conn:
        conn.execute(calls.insert(), [
            {"id": str(uuid.uuid4()), "ts": datetime(2026, 11, 1, 9, i), "user_id": "ana",
             "model": "claude-haiku-5-5", "status": "ok", "cost_usd": "0.0000123400", "source": "cli"}
            for i in range(10)])
    yield engine
    engine.dispose()


def test_upgrade_adds_the_login_table_and_keeps_rows(v3_ledger):
    with v3_ledger.connect() as conn:
        before = tables(conn)
        assert current_version(conn) == 3 and "login_attempts" not in before
    assert migrate(v3_ledger, target=4) == 4
    with v3_ledger.connect() as conn:
        assert tables(conn) == before | {"login_attempts"}
        assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 10
    attempts = SqlAttempts(v3_ledger)
    now = FakeClock().now().timestamp()
    assert [attempts.begin("ana|x", now, 900) for _ in range(3)] == [1, 2, 3]
    assert migrate(v3_ledger, target=4) == 4  # idempotent
