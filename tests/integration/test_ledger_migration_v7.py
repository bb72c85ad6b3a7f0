"""Schema 6 → 7 (revision 0007): gateway keys and calls.api_key_id arrive, a v6 ledger's rows stay as they were."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.ledger.migrations import _indexes, current_version, migrate
from core.ledger.schema import SCHEMA_VERSION, api_keys, calls
from tests.integration.conftest import alembic_version, tables


def _drop_column(engine, table: str, column: str) -> None:
    """Make the ledger look as version 6's code left it: no such column (DuckDB: indexes off and back)."""
    with engine.begin() as conn:
        present = {c for (c,) in conn.execute(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = :t"), {"t": table})}
        if column not in present:  # version 6's tables are made without it already
            return
        dropped = _indexes(conn, table) if conn.dialect.name == "duckdb" else {}
        for name in dropped:
            conn.execute(sa.text(f'DROP INDEX "{name}"'))
        conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        for sql in dropped.values():
            conn.execute(sa.text(sql))


@pytest.fixture
def v6_ledger(old_ledger):
    """A version-6 ledger holding calls, as version 6's code made it (no calls.api_key_id)."""
    engine = old_ledger(6, rows=20)
    _drop_column(engine, "calls", "api_key_id")
    return engine


def _columns(conn, table: str) -> set[str]:
    return set(conn.execute(sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :t"), {"t": table}).scalars())


def test_a_v6_ledger_gains_the_keys_table_and_the_key_column_without_losing_a_row(v6_ledger):
    with v6_ledger.connect() as conn:
        before = conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all()
        assert "api_keys" not in tables(conn) and "api_key_id" not in _columns(conn, "calls")
        indexes = set(_indexes(conn, "calls"))
    assert SCHEMA_VERSION >= 7 and migrate(v6_ledger, target=7) == 7
    with v6_ledger.connect() as conn:
        assert current_version(conn) == 7
        assert alembic_version(conn) == ["0007"]
        assert {c.name for c in api_keys.columns} == _columns(conn, "api_keys")
        assert "api_key_id" in _columns(conn, "calls") and set(_indexes(conn, "calls")) == indexes
        assert conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all() == before
        assert conn.execute(sa.select(sa.func.count()).where(calls.c.api_key_id.is_not(None))).scalar() == 0
    assert migrate(v6_ledger, target=7) == 7  # idempotent


def test_a_ledger_made_at_version_1_by_this_code_also_reaches_7(tmp_path):
    from core.ledger.engine import make_engine

    engine = make_engine(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    try:
        assert migrate(engine, target=7) == 7
        with engine.connect() as conn:
            assert "api_keys" in tables(conn) and "api_key_id" in _columns(conn, "calls")
    finally:
        engine.dispose()
