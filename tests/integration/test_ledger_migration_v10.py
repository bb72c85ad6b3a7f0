"""Schema 9 → 10 (revision 0010): calls gain ``rolled``, the rollup tables arrive, and a v9 ledger's rows are folded
into them by the step itself (they start rolled, no row rewritten); rows stay as they were, new ones are unrolled."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from core.ledger import rollup
from core.ledger.ddl import columns
from core.ledger.migrations import current_version, migrate
from core.ledger.schema import ROLLUPS, SCHEMA_VERSION
from core.reports import queries
from tests.integration.conftest import T0, alembic_version, tables

RAW = "SELECT count(*), sum(cost_usd) FROM calls"


def test_a_v9_ledger_gains_the_rollups_with_its_rows_already_folded_in(old_ledger):
    engine = old_ledger(9, rows=15)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all()
        assert "rolled" not in columns(conn, "calls") and not tables(conn) & {t.name for t in ROLLUPS}
        n, spent = conn.execute(sa.text(RAW)).one()
    assert SCHEMA_VERSION >= 10 and migrate(engine, target=10) == 10
    with engine.connect() as conn:
        assert current_version(conn) == 10 and alembic_version(conn) == ["0010"]
        for table in ROLLUPS:
            assert {c.name for c in table.columns} == columns(conn, table.name)
        assert conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all() == before
        assert conn.execute(sa.text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar() == 0
        calls_n, units = conn.execute(sa.text("SELECT sum(calls), sum(cost_usd) FROM usage_daily")).one()
        assert (calls_n, Decimal(units).scaleb(-10)) == (n, spent) == (15, spent)  # money in 1e-10 USD units
        assert conn.execute(sa.text("SELECT sum(calls) FROM usage_hourly_all")).scalar() == 15
        assert conn.execute(sa.text("SELECT sum(n) FROM latency_daily WHERE metric = 0")).scalar() == 15
    assert migrate(engine, target=10) == 10  # idempotent: nothing folded twice
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sum(calls) FROM usage_hourly")).scalar() == 15
    migrate(engine)
    assert rollup.refresh(engine) == 0  # nothing left to fold
    with engine.begin() as conn:  # a row written as an older writer would: ``rolled`` left to the database's default
        conn.execute(sa.text("INSERT INTO calls (id, ts, user_id, model, status, input_tokens, output_tokens, "
                             "cache_creation_5m_tokens, cache_creation_1h_tokens, cache_read_tokens, tokens_saved, "
                             "cost_usd, unpriced, streamed, retries, source) VALUES (:id, :ts, 'bo', "
                             "'claude-haiku-5-5', 'ok', 1, 1, 0, 0, 0, 0, 0.5, FALSE, FALSE, 0, 'cli')"),
                     {"id": str(uuid.uuid4()), "ts": T0 + timedelta(minutes=3)})
        assert conn.execute(sa.text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar() == 1
        n, spent = conn.execute(sa.text(RAW)).one()
    day = T0.date()
    totals = queries.totals(engine, day, day)  # the rollups plus the unrolled row
    assert (int(totals["calls"].iloc[0]), totals["cost_usd"].iloc[0]) == (16, spent)
    assert rollup.refresh(engine) == 1
    assert queries.totals(engine, day, day).equals(totals)


def test_a_new_row_after_the_upgrade_is_unrolled_until_the_next_refresh(old_ledger):
    from tests.integration.conftest import add_calls

    engine = old_ledger(9, rows=3)
    migrate(engine)
    rollup.refresh(engine)
    add_calls(engine, 2)  # as the ledger writes them: rolled left to its default
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar() == 2
    assert rollup.refresh(engine) == 2
