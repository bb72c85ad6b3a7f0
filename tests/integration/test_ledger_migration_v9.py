"""Schema 8 → 9 (revision 0009): the batch-run tables arrive, a v8 ledger's rows stay as they were."""

from __future__ import annotations

import sqlalchemy as sa

from core.ledger.migrations import current_version, migrate
from core.ledger.schema import SCHEMA_VERSION, batch_items, batch_runs
from tests.integration.conftest import alembic_version, tables


def _columns(conn, table: str) -> set[str]:
    return set(conn.execute(sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :t"), {"t": table}).scalars())


def test_a_v8_ledger_gains_the_run_tables_without_losing_a_row(old_ledger):
    engine = old_ledger(8, rows=15)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all()
        assert not tables(conn) & {"batch_runs", "batch_items"}
    assert SCHEMA_VERSION >= 9 and migrate(engine, target=9) == 9
    with engine.connect() as conn:
        assert current_version(conn) == 9 and alembic_version(conn) == ["0009"]
        assert {c.name for c in batch_runs.columns} == _columns(conn, "batch_runs")
        assert {c.name for c in batch_items.columns} == _columns(conn, "batch_items")
        assert conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all() == before
    assert migrate(engine, target=9) == 9  # idempotent


def test_a_fresh_ledger_reaches_9_with_the_run_tables(tmp_path):
    from core.ledger.engine import make_engine

    engine = make_engine(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    try:
        assert migrate(engine) == SCHEMA_VERSION
        with engine.connect() as conn:
            assert {"batch_runs", "batch_items"} <= tables(conn)
    finally:
        engine.dispose()
