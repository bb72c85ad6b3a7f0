"""Schema 10 → 11 (revision 0011): latency_hourly_all arrives, filled from the rows v10 had rolled; on PostgreSQL
the calls gain ix_calls_user_latency, which one user's latency read scans alone. Rows and figures stay."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.ledger import latency_read, rollup
from core.ledger.ddl import indexes
from core.ledger.migrations import current_version, migrate
from core.reports import queries
from tests.integration.conftest import T0, alembic_version


def test_a_v10_ledger_gains_the_user_latency_index_and_one_users_latency_reads_it(old_ledger):
    engine = old_ledger(10, rows=40)
    pg = engine.dialect.name == "postgresql"
    day = T0.date()
    with engine.begin() as conn:  # v10's refresh rolled half of them (its latency rollup: latency_hourly)
        half = "NOT rolled AND ts < :mid"
        rollup._upsert_latency(conn, "latency_hourly", "hour", half, {"mid": T0 + timedelta(minutes=20)}, 1)
        conn.execute(sa.text(f"UPDATE calls SET rolled = TRUE WHERE {half}"), {"mid": T0 + timedelta(minutes=20)})
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all()
        assert "ix_calls_user_latency" not in indexes(conn, "calls")
    lat = queries.latency_summary(engine, day, day, users=["ana"])
    assert migrate(engine, target=11) == 11
    with engine.connect() as conn:
        assert current_version(conn) == 11 and alembic_version(conn) == ["0011"]
        assert ("ix_calls_user_latency" in indexes(conn, "calls")) is pg
        assert conn.execute(sa.text("SELECT id, user_id, cost_usd FROM calls ORDER BY id")).all() == before
    assert migrate(engine, target=11) == 11  # idempotent
    with engine.connect() as conn:
        per_hour = "SELECT hour, metric, bucket, {} FROM {} GROUP BY hour, metric, bucket ORDER BY 1, 2, 3"
        filled = conn.execute(sa.text(per_hour.format("sum(n)", "latency_hourly_all"))).all()
        assert sum(n for *_, n in filled) == 2 * 20  # latency and time to first token of the 20 rolled calls
        assert filled == conn.execute(sa.text(per_hour.format("sum(n)", "latency_hourly"))).all()
    assert queries.latency_summary(engine, day, day, users=["ana"]).equals(lat)
    assert int(lat["calls"].iloc[0]) == 40
    if pg:  # the planner takes the index for an analyst's latency (a small table: sequential scans off)
        start, end = T0, T0 + timedelta(days=1)
        stmt = latency_read.latency_select("postgresql", ["day"], start, end, "UTC", ["ana"], None)
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
            conn.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
            plan = "\n".join(conn.execute(sa.text(f"EXPLAIN {sql}")).scalars())
        assert "Index Only Scan using ix_calls_user_latency" in plan, plan
