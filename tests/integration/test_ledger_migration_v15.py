"""Schema 14 → 15 (revision 0015): on PostgreSQL, ix_latency_hourly_all_cover (hour) INCLUDE (metric, bucket, n)
arrives, from which latency per New York day reads the hours it moves across without the table; rows, rollups and
figures stay, DuckDB gains no index, and it is idempotent."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from core.ledger import latency_read, rollup
from core.ledger.ddl import indexes
from core.ledger.migrations import current_version, migrate
from core.reports import queries
from tests.integration.conftest import T0, add_calls, alembic_version

NY = "America/New_York"


def test_a_v14_ledger_gains_the_covering_index_of_the_hourly_histograms(old_ledger):
    engine = old_ledger(14, rows=30)  # ana, 1 November from 09:00 UTC
    add_calls(engine, 20, T0 + timedelta(days=2, hours=-7), version=14)  # 3 November 02:00 UTC: 2 November in NY
    rollup.refresh(engine, wait=True)
    pg = engine.dialect.name == "postgresql"
    span = (date(2026, 10, 31), date(2026, 11, 4))
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT id, cost_usd, rolled FROM calls ORDER BY id")).all()
        hourly = conn.execute(sa.text("SELECT hour, metric, bucket, n FROM latency_hourly_all ORDER BY 1, 2, 3")).all()
        assert "ix_latency_hourly_all_cover" not in indexes(conn, "latency_hourly_all")
    lat = queries.latency_by_day(engine, *span, NY)
    assert migrate(engine, target=15) == 15
    assert migrate(engine, target=15) == 15  # idempotent
    with engine.connect() as conn:
        assert current_version(conn) == 15 and alembic_version(conn) == ["0015"]
        assert conn.execute(sa.text("SELECT id, cost_usd, rolled FROM calls ORDER BY id")).all() == before
        assert conn.execute(sa.text("SELECT hour, metric, bucket, n FROM latency_hourly_all ORDER BY 1, 2, 3")).all() \
            == hourly
        found = indexes(conn, "latency_hourly_all").get("ix_latency_hourly_all_cover")
    assert queries.latency_by_day(engine, *span, NY).equals(lat)
    assert lat["calls"].tolist() == [30, 20]  # 1 and 2 November in New York
    if not pg:
        assert found is None
        return
    assert found is not None and "(hour) INCLUDE (metric, bucket, n)" in found
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE latency_hourly_all"))  # index-only scans need the visibility map
    start, end = queries.window(*span, NY)
    stmt = latency_read.latency_select("postgresql", ["day"], start, end, NY)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:  # a small table: sequential and bitmap scans off, as at scale
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        conn.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        plan = "\n".join(conn.execute(sa.text(f"EXPLAIN {sql}")).scalars())
    assert "Index Only Scan using ix_latency_hourly_all_cover" in plan, plan
