"""Schema 3 → 4, the first Alembic revision: a v3 ledger, or an old hand-written v4 one, reaches the head."""

from __future__ import annotations

import sqlalchemy as sa

from core.accounts.lockout import SqlAttempts
from core.clock import FakeClock
from core.ledger.alembic import revision_of
from core.ledger.migrations import migrate
from core.ledger.schema import SCHEMA_VERSION, as_of, calls, login_attempts, metadata
from tests.integration.conftest import (
    T0,
    alembic_version,
    before_upgrade,
    schema_versions,
    table_rows,
    tables,
)

HEAD = revision_of(SCHEMA_VERSION)


def test_upgrade_adds_the_login_table_and_keeps_rows(old_ledger):
    v3_ledger = old_ledger(3)
    before = before_upgrade(v3_ledger, 3, "login_attempts", "alembic_version")
    assert migrate(v3_ledger, target=4) == 4
    with v3_ledger.connect() as conn:
        assert tables(conn) == before | {"login_attempts", "alembic_version"}
        assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 10
        assert alembic_version(conn) == ["0004"]
    attempts = SqlAttempts(v3_ledger)
    now = FakeClock().now().timestamp()
    assert [attempts.begin("ana|x", now, 900) for _ in range(3)] == [1, 2, 3]
    assert migrate(v3_ledger, target=4) == 4  # idempotent


def test_a_v3_ledger_with_rows_reaches_the_head(old_ledger):
    v3_ledger = old_ledger(3, rows=25)
    before_upgrade(v3_ledger, 3, "login_attempts")
    v3_calls = as_of(calls, 3)  # the columns a version-3 ledger has; later versions add more
    with v3_ledger.connect() as conn:
        rows = table_rows(conn, v3_calls)
    assert migrate(v3_ledger) == SCHEMA_VERSION
    with v3_ledger.connect() as conn:
        assert tables(conn) == set(metadata.tables) | {"alembic_version"}
        assert table_rows(conn, v3_calls) == rows and len(rows) == 25
        assert alembic_version(conn) == [HEAD]
        assert schema_versions(conn) == list(range(1, SCHEMA_VERSION + 1))  # 4 and 5 among them


def test_a_v4_ledger_from_the_hand_written_step_upgrades_cleanly(old_ledger):
    v4_ledger = old_ledger(4, hand_written=True)
    before = before_upgrade(v4_ledger, 4, "alembic_version")
    assert "login_attempts" in before
    with v4_ledger.begin() as conn:  # a lock-out row from before the upgrade must survive it
        conn.execute(login_attempts.insert().values(id="kept", username="ana|x", kind="attempt",
                                                    at_s=T0.timestamp()))
    assert migrate(v4_ledger) == SCHEMA_VERSION
    with v4_ledger.connect() as conn:
        # later versions' tables: api_keys (7), message_batches and idempotency_keys (8), the run tables (9),
        # the rollups (10), latency per hour over every model (11) and per day (12), usage per day over every
        # user and per month (14)
        assert tables(conn) == before | {"alembic_version", "api_keys", "message_batches", "idempotency_keys",
                                         "batch_runs", "batch_items", "usage_hourly", "usage_hourly_all",
                                         "usage_daily", "latency_hourly", "latency_daily", "latency_hourly_all",
                                         "latency_daily_all", "usage_daily_all", "usage_monthly"}
        assert alembic_version(conn) == [HEAD]
        assert schema_versions(conn) == list(range(1, SCHEMA_VERSION + 1))
        assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 10
        assert [r.id for r in table_rows(conn, login_attempts)] == ["kept"]
    assert SqlAttempts(v4_ledger).begin("ana|x", T0.timestamp() + 1, 900) == 2

