"""Schema 13 → 14 (revision 0014): usage_daily_all and usage_monthly arrive, filled from the rows v13 had rolled (its
usage_daily), across a month's edge; figures per user and per New York day read the same as the raw calls before and
after, rows stay, a refresh folds the rest into them, and it is idempotent."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from core.ledger import rollup
from core.ledger.ddl import indexes
from core.ledger.migrations import current_version, migrate
from core.reports import queries
from tests.integration.conftest import T0, add_calls, alembic_version

V13_USAGE = ("usage_hourly", "usage_hourly_all", "usage_daily")
KEYS = "model, status, error_code, service_tier, inference_geo, prompt_band"
GROUPED = "SELECT {0}, " + KEYS + ", sum(calls), sum(cost_usd) FROM {1} GROUP BY {0}, " + KEYS + " ORDER BY 1, 2, 3, 4"


def _raw(engine) -> dict:
    with engine.connect() as conn:
        return {u: (n, cost) for u, n, cost in conn.execute(sa.text(
            "SELECT user_id, count(*), sum(cost_usd) FROM calls GROUP BY user_id"))}


def test_a_v13_ledger_gains_daily_usage_over_every_user_and_monthly_usage_per_user(old_ledger):
    engine = old_ledger(13, rows=30)  # ana, from 1 November 09:00 UTC
    add_calls(engine, 40, T0 - timedelta(hours=14), version=13, user_id="bo", status="error", error_code="timeout",
              cost_usd="0.0000500000")  # 31 October 19:00 to 19:39: October in UTC, October 31st in New York
    add_calls(engine, 25, T0 + timedelta(days=30), version=13, user_id="cy")  # 1 December, 04:00 in New York
    with engine.begin() as conn:  # v13's refresh rolled all but the last 10 of ana's (and left cy's December)
        rolled = "NOT rolled AND ts < :cut"
        cut = {"cut": T0 + timedelta(minutes=20)}
        rollup.fold(conn, rolled, cut, tables=V13_USAGE)
        conn.execute(sa.text(f"UPDATE calls SET rolled = TRUE WHERE {rolled}"), cut)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT id, user_id, cost_usd, rolled FROM calls ORDER BY id")).all()
    truth = _raw(engine)
    assert migrate(engine, target=14) == 14
    assert migrate(engine, target=14) == 14  # idempotent
    with engine.connect() as conn:
        assert current_version(conn) == 14 and alembic_version(conn) == ["0014"]
        assert conn.execute(sa.text("SELECT id, user_id, cost_usd, rolled FROM calls ORDER BY id")).all() == before
        daily_all = conn.execute(sa.text(GROUPED.format("day", "usage_daily_all"))).all()
        assert daily_all == conn.execute(sa.text(GROUPED.format("day", "usage_daily"))).all()
        assert sum(r[-2] for r in daily_all) == 60  # 20 of ana's and bo's 40: what v13 had rolled
        months = conn.execute(sa.text(GROUPED.format("month, user_id", "usage_monthly"))).all()
        assert [(m.date(), u, n) for m, u, *_, n, _cost in months] == [(date(2026, 10, 1), "bo", 40),
                                                                        (date(2026, 11, 1), "ana", 20)]
        assert ("ix_usage_monthly_user" in indexes(conn, "usage_monthly")) is True
    args = {"since": date(2026, 10, 1), "until": date(2026, 12, 31)}
    by_user = queries.usage_by(engine, "user", **args)
    assert {u: (n, cost) for u, n, cost in zip(by_user["user"], by_user["calls"], by_user["cost_usd"],
                                                strict=True)} == truth
    ny = queries.usage_by(engine, ["day", "model"], tz="America/New_York", **args)
    assert dict(zip(ny["day"], ny["calls"], strict=True)) == {date(2026, 10, 31): 40, date(2026, 11, 1): 30,
                                                               date(2026, 12, 1): 25}
    assert rollup.refresh(engine) == 35  # the rest folds into the new tables too
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sum(calls) FROM usage_monthly")).scalar() == 95
        assert conn.execute(sa.text("SELECT sum(calls) FROM usage_daily_all")).scalar() == 95
    assert queries.usage_by(engine, "user", **args).equals(by_user)
    assert queries.usage_by(engine, ["day", "model"], tz="America/New_York", **args).equals(ny)
