"""Schema 9 → 10 (revision 0010): calls gain ``rolled`` (false: marked to be rolled up), the rollup tables
arrive empty, a v9 ledger's rows stay as they were and the first refresh folds them all in."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from core.ledger import rollup
from core.ledger.ddl import columns
from core.ledger.migrations import current_version, migrate
from core.ledger.schema import ROLLUPS, SCHEMA_VERSION
from core.reports import queries
from tests.integration.conftest import T0, alembic_version, tables


def test_a_v9_ledger_gains_the_rollups_and_its_rows_are_rolled_up_by_the_first_refresh(old_ledger):
    engine = old_ledger(9, rows=15)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all()
        assert "rolled" not in columns(conn, "calls") and not tables(conn) & {t.name for t in ROLLUPS}
    assert SCHEMA_VERSION >= 10 and migrate(engine, target=10) == 10
    with engine.connect() as conn:
        assert current_version(conn) == 10 and alembic_version(conn) == ["0010"]
        for table in ROLLUPS:
            assert {c.name for c in table.columns} == columns(conn, table.name)
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table.name}")).scalar() == 0
        assert conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all() == before
        assert conn.execute(sa.text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar() == 15
    day = T0.date()
    raw = queries.usage_by(engine, "user", day, day)  # read raw: nothing rolled yet
    assert int(raw["calls"].iloc[0]) == 15
    assert migrate(engine, target=10) == 10  # idempotent
    migrate(engine)  # the refresh is this code's: it folds into every later rollup too
    assert rollup.refresh(engine) == 15
    with engine.connect() as conn:
        calls_n, units = conn.execute(sa.text("SELECT sum(calls), sum(cost_usd) FROM usage_daily")).one()
        assert (calls_n, Decimal(units).scaleb(-10)) == (15, raw["cost_usd"].iloc[0])  # money in 1e-10 USD units
        assert conn.execute(sa.text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar() == 0
    assert queries.usage_by(engine, "user", day, day).equals(raw)


def test_a_new_row_after_the_upgrade_is_unrolled_until_the_next_refresh(old_ledger):
    from tests.integration.conftest import add_calls

    engine = old_ledger(9, rows=3)
    migrate(engine)
    rollup.refresh(engine)
    add_calls(engine, 2)  # as the ledger writes them: rolled left to its default
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar() == 2
    assert rollup.refresh(engine) == 2
