"""Schema 12 → 13 (revision 0013): on PostgreSQL, ix_calls_unrolled_user (user_id, ts) WHERE NOT rolled arrives, so
one user's unrolled rows come from an index; rows stay, DuckDB gains no index, and it is idempotent."""

from __future__ import annotations

import sqlalchemy as sa

from core.ledger.ddl import indexes
from core.ledger.migrations import current_version, migrate
from tests.integration.conftest import alembic_version


def test_a_v12_ledger_gains_the_index_of_each_users_unrolled_rows(old_ledger):
    engine = old_ledger(12, rows=30)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT id, user_id, cost_usd, rolled FROM calls ORDER BY id")).all()
    assert migrate(engine, target=13) == 13
    assert migrate(engine, target=13) == 13  # idempotent
    with engine.connect() as conn:
        assert current_version(conn) == 13 and alembic_version(conn) == ["0013"]
        assert conn.execute(sa.text("SELECT id, user_id, cost_usd, rolled FROM calls ORDER BY id")).all() == before
        found = indexes(conn, "calls").get("ix_calls_unrolled_user")
        if engine.dialect.name == "postgresql":
            assert found is not None and "(user_id, ts)" in found and "WHERE (NOT rolled)" in found
        else:
            assert found is None
