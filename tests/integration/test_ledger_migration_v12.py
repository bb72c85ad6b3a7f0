"""Schema 11 → 12 (revision 0012): latency_daily_all arrives, filled from the rows v11 had rolled, and a latency
read per local day (New York) gives the same histograms before and after; rows stay, and it is idempotent."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.ledger import rollup
from core.ledger.migrations import current_version, migrate
from core.ledger.schema import SCHEMA_VERSION
from core.reports import queries
from tests.integration.conftest import T0, alembic_version

PER_DAY = "SELECT {0}, metric, bucket, sum(n) FROM {1} GROUP BY {0}, metric, bucket ORDER BY 1, 2, 3"


def test_a_v11_ledger_gains_the_daily_latency_over_every_model_and_reads_the_same(old_ledger):
    engine = old_ledger(11, rows=40)
    day = T0.date()
    with engine.begin() as conn:  # v11's refresh rolled half of them (into its latency rollups)
        half = "NOT rolled AND ts < :mid"
        mid = {"mid": T0 + timedelta(minutes=20)}
        for table, unit in (("latency_hourly", "hour"), ("latency_daily", "day")):
            rollup._upsert_latency(conn, table, unit, half, mid, 1)
        rollup._upsert_latency(conn, "latency_hourly_all", "hour", half, mid, 1, with_model=False)
        conn.execute(sa.text(f"UPDATE calls SET rolled = TRUE WHERE {half}"), mid)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT id, user_id, cost_usd, rolled FROM calls ORDER BY id")).all()
    args = {"since": day - timedelta(days=2), "until": day + timedelta(days=2), "tz": "America/New_York"}
    lat = queries.latency_by_day(engine, users=["ana"], **args)  # every call is ana's: read raw, the truth
    assert migrate(engine, target=12) == 12
    with engine.connect() as conn:
        assert current_version(conn) == 12 and alembic_version(conn) == ["0012"]
        assert conn.execute(sa.text("SELECT id, user_id, cost_usd, rolled FROM calls ORDER BY id")).all() == before
    assert migrate(engine, target=12) == 12  # idempotent
    with engine.connect() as conn:
        filled = conn.execute(sa.text(PER_DAY.format("day", "latency_daily_all"))).all()
        assert sum(n for *_, n in filled) == 2 * 20  # latency and time to first token of the 20 rolled calls
        assert filled == conn.execute(sa.text(PER_DAY.format("day", "latency_daily"))).all()
    assert queries.latency_by_day(engine, **args).equals(lat)
    assert int(lat["calls"].sum()) == 40
    assert migrate(engine) == SCHEMA_VERSION  # a refresh folds into every rollup the code knows: its schema first
    assert rollup.refresh(engine) == 20  # the rest folds into the new table too
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sum(n) FROM latency_daily_all")).scalar() == 2 * 40
    assert queries.latency_by_day(engine, **args).equals(lat)
