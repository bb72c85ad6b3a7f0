"""Dashboard queries and what-if re-pricing on a small known ledger, on every backend.

Expectations are computed here from the inserted records with zoneinfo, independently
of the SQL: local days in UTC and in America/New_York (DST starts 2026-03-08).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa

from bench import report_queries
from core.catalog import pricing
from core.catalog.models import default_catalogue
from core.ledger.schema import calls
from core.reports import latency, queries
from core.reports.reprice import reprice
from core.types import CallRecord, Usage
from tests.integration.conftest import MODELS, TOKENS, random_calls, read_only_ledger
from tests.integration.test_ledger import BACKENDS

NY = "America/New_York"
USERS = ["ana", "bo", "chen", "dee"]
# 02:00 UTC on 10 March is 22:00 on 9 March in New York.
EDGE = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def _long_prompt(i: int, usage: Usage) -> Usage:
    """Every 15th billed call: a long prompt, past the what-if band's threshold."""
    return Usage(input_tokens=150_000, output_tokens=900, cache_read_tokens=60_000) if i % 15 == 0 else usage


def dataset() -> list[CallRecord]:
    recs = random_calls(20261122, 90, start=datetime(2026, 2, 25, tzinfo=UTC), days=16, users=USERS,
                        statuses={"ok": 70, "error": 10, "cached": 12, "blocked": 8}, max_tokens=3000,
                        saved=(0, 500), jitter_us=True, unpriced_share=0.05, shape=_long_prompt)
    recs.append(CallRecord(id=str(uuid.uuid4()), ts=EDGE, user="edge", model=MODELS[0], status="ok",
                           usage=Usage(10, 10), cost_usd=Decimal("0.5"), latency_ms=100.0, ttft_ms=50.0))
    return recs


loaded = read_only_ledger(dataset, "ledger", BACKENDS)  # the data set once per backend; the tests only read it


def bounds(since: date, until: date, tz: str) -> tuple[datetime, datetime]:
    z = ZoneInfo(tz)
    return (datetime.combine(since, time(0), z), datetime.combine(until + timedelta(days=1), time(0), z))


def expected(recs, by, since, until, tz="UTC", users=None, models=None) -> dict:
    lo, hi = bounds(since, until, tz)
    out = defaultdict(lambda: defaultdict(int))
    for r in recs:
        if not (lo <= r.ts < hi) or (users and r.user not in users) or (models and r.model not in models):
            continue
        key = tuple({"day": r.ts.astimezone(ZoneInfo(tz)).date(), "user": r.user, "model": r.model}[k]
                    for k in by)
        g = out[key]
        g["calls"] += 1
        g["ok"] += r.status == "ok"
        g["errors"] += r.status == "error"
        g["cache_hits"] += r.status == "cached"
        g["blocked"] += r.status == "blocked"
        g["unpriced"] += r.unpriced
        g["cost_usd"] += r.cost_usd
        for t in TOKENS:
            g[t] += getattr(r.usage, t)
        g["tokens_saved"] += r.tokens_saved
    return {k: dict(v) for k, v in out.items()}


def as_groups(df, by) -> dict:
    cols = ["calls", "ok", "errors", "cache_hits", "blocked", "unpriced", "cost_usd", *TOKENS, "tokens_saved"]
    out = {}
    for row in df.to_dict(orient="records"):
        key = tuple(row[k] if k != "day" else _as_date(row[k]) for k in by)
        out[key] = {c: (Decimal(row[c]) if c == "cost_usd" else int(row[c])) for c in cols}
    return out


def _as_date(v) -> date:
    return v.date() if isinstance(v, datetime) else v


SPAN = (date(2026, 2, 25), date(2026, 3, 12))


@pytest.mark.parametrize("tz", ["UTC", NY])
@pytest.mark.parametrize("by", [["day"], ["user"], ["model"], ["day", "model"], ["user", "model"]])
def test_usage_by_matches_the_records(loaded, by, tz):
    engine, recs = loaded
    df = queries.usage_by(engine, by, *SPAN, tz=tz)
    assert list(df.columns[:len(by)]) == by
    assert as_groups(df, by) == expected(recs, by, *SPAN, tz=tz)
    assert all(isinstance(v, Decimal) for v in df["cost_usd"])  # exact, never a float
    if "day" in by:
        assert list(df["day"]) == sorted(df["day"])


def test_a_call_at_two_utc_is_on_the_previous_day_in_new_york(loaded):
    engine, _ = loaded
    utc = queries.usage_by(engine, "day", date(2026, 3, 9), date(2026, 3, 10), users=["edge"])
    ny = queries.usage_by(engine, "day", date(2026, 3, 9), date(2026, 3, 10), tz=NY, users=["edge"])
    assert [_as_date(d) for d in utc["day"]] == [date(2026, 3, 10)]
    assert [_as_date(d) for d in ny["day"]] == [date(2026, 3, 9)]
    only_10th_ny = queries.totals(engine, date(2026, 3, 10), date(2026, 3, 10), tz=NY, users=["edge"])
    assert int(only_10th_ny["calls"][0]) == 0  # the 10th in New York starts at 04:00 UTC


def test_filters_and_datetime_bounds(loaded):
    engine, recs = loaded
    df = queries.usage_by(engine, ["user", "model"], *SPAN, tz=NY, users=["ana", "bo"], models=MODELS[:2])
    assert as_groups(df, ["user", "model"]) == expected(recs, ["user", "model"], *SPAN, tz=NY,
                                                       users=["ana", "bo"], models=MODELS[:2])
    lo, hi = datetime(2026, 3, 1, 6, 30, tzinfo=UTC), datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
    tot = queries.totals(engine, lo, hi)
    inside = [r for r in recs if lo <= r.ts < hi]  # an instant range is half-open
    assert int(tot["calls"][0]) == len(inside)
    assert Decimal(tot["cost_usd"][0]) == sum((r.cost_usd for r in inside), Decimal(0))
    assert int(tot["users"][0]) == len({r.user for r in inside})


def test_an_empty_period_gives_zero_totals_and_no_groups(loaded):
    engine, _ = loaded
    tot = queries.totals(engine, date(2020, 1, 1), date(2020, 1, 31))
    assert int(tot["calls"][0]) == 0 and Decimal(tot["cost_usd"][0]) == 0
    assert queries.usage_by(engine, "day", date(2020, 1, 1), date(2020, 1, 31), tz=NY).empty
    with pytest.raises(ValueError):
        queries.usage_by(engine, "week", *SPAN)
    with pytest.raises(ValueError):
        queries.totals(engine, *SPAN, tz="Mars/Olympus'--")


def test_latency_percentiles_per_model_count_only_ok_calls(loaded):
    engine, recs = loaded
    df = report_queries.latency_by_model(engine, *SPAN)
    assert list(df["model"]) == sorted({r.model for r in recs if r.status == "ok"})
    for row in df.to_dict(orient="records"):
        ok = [r for r in recs if r.model == row["model"] and r.status == "ok"]
        assert row["calls"] == len(ok)
        for name, attr in (("latency", "latency_ms"), ("ttft", "ttft_ms")):
            values = [getattr(r, attr) for r in ok]
            for q in (50, 95):
                # histograms: within one bucket of the exact percentile (core.reports.latency.PRECISION)
                assert row[f"p{q}_{name}_ms"] == pytest.approx(np.percentile(values, q), rel=latency.PRECISION)


def test_month_to_date_depends_on_the_time_zone(loaded):
    engine, recs = loaded
    now = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)  # still February in New York
    for tz, start in (("UTC", datetime(2026, 3, 1, tzinfo=UTC)),
                      (NY, datetime(2026, 2, 1, tzinfo=ZoneInfo(NY)))):
        df = report_queries.month_to_date_by_user(engine, now, tz)
        want = defaultdict(Decimal)
        for r in recs:
            if start <= r.ts < now:
                want[r.user] += r.cost_usd
        assert {u: Decimal(c) for u, c in zip(df["user"], df["cost_usd"], strict=True)} == dict(want)


def test_top_users_and_most_expensive_calls(loaded):
    engine, recs = loaded
    spend = defaultdict(Decimal)
    for r in recs:
        spend[r.user] += r.cost_usd
    top = report_queries.top_users(engine, *SPAN, n=2)
    assert list(top["user"]) == sorted(spend, key=lambda u: -spend[u])[:2]
    dear = queries.most_expensive_calls(engine, *SPAN, n=3, tz=NY)
    want = sorted(recs, key=lambda r: (r.cost_usd, r.ts), reverse=True)[:3]
    assert list(dear["id"]) == [r.id for r in want]
    assert [Decimal(c) for c in dear["cost_usd"]] == [r.cost_usd for r in want]
    local = dear["ts"].iloc[0]
    assert local == want[0].ts.astimezone(ZoneInfo(NY)).replace(tzinfo=None)


# --- what-if re-pricing ---------------------------------------------------------------------

def what_if_table() -> pricing.PriceTable:
    """Haiku changes price on 2026-03-05 and has a long-prompt band; Opus has no price at all."""
    def row(model, day, p, band=None):
        return pricing.PriceRow(model=model, effective_from=day, input=p[0], output=p[1],
                                cache_write_5m=p[2], cache_write_1h=p[3], cache_read=p[4],
                                source="test", band=band, table_version="what-if")
    d = Decimal
    band = pricing.LongPromptBand(threshold_tokens=200_000, input=d("2"), output=d("9"),
                                  cache_write_5m=d("2.5"), cache_write_1h=d("4"), cache_read=d("0.2"))
    rows = [row(MODELS[0], date(2024, 1, 1), (d("1"), d("5"), d("1.25"), d("2"), d("0.1")), band),
            row(MODELS[0], date(2026, 3, 5), (d("0.8"), d("4"), d("1"), d("1.6"), d("0.08")), band),
            row(MODELS[1], date(2024, 1, 1), (d("3"), d("15"), d("3.75"), d("6"), d("0.3")))]
    return pricing.PriceTable(rows, version="what-if", batch_discount=d("0.5"),
                              catalogue=default_catalogue())


def test_reprice_uses_the_row_in_effect_on_each_calls_date_and_changes_nothing(loaded):
    engine, recs = loaded
    table = what_if_table()
    with engine.connect() as conn:
        before = conn.execute(sa.select(calls.c.id, calls.c.cost_usd).order_by(calls.c.id)).all()
    billed = [r for r in recs if r.status in ("ok", "error")]
    per_call = reprice(engine, *SPAN, table=table, per_call=True)
    assert set(per_call["id"]) == {r.id for r in billed}
    by_id = {row["id"]: row for row in per_call.to_dict(orient="records")}
    want = defaultdict(lambda: {"calls": 0, "unpriced": 0, "old": Decimal(0), "new": Decimal(0)})
    for r in billed:
        priced = table.price(r.usage, r.model, r.ts)  # the pricing module's own band logic
        got = by_id[r.id]
        assert Decimal(got["original_cost_usd"]) == r.cost_usd
        w = want[r.model]
        w["calls"] += 1
        w["old"] += r.cost_usd
        if priced.unpriced:
            assert got["new_cost_usd"] is None and got["new_price_version"] is None
            w["unpriced"] += 1
        else:
            assert got["new_cost_usd"] == priced.cost and got["new_price_version"] == priced.price_version
            assert got["difference_usd"] == priced.cost - r.cost_usd
            w["new"] += priced.cost
    assert {v for r in billed if r.model == MODELS[0]
            for v in [by_id[r.id]["new_price_version"]]} == {
        f"what-if/{MODELS[0]}@2024-01-01", f"what-if/{MODELS[0]}@2026-03-05"}
    agg = reprice(engine, *SPAN, table=table)
    got = {row["model"]: row for row in agg.to_dict(orient="records")}
    assert set(got) == set(want)
    for model, w in want.items():
        g = got[model]
        assert (g["calls"], g["unpriced_calls"]) == (w["calls"], w["unpriced"])
        assert (g["original_cost_usd"], g["new_cost_usd"]) == (w["old"], w["new"])
        assert g["difference_usd"] == w["new"] - w["old"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(calls.c.id, calls.c.cost_usd).order_by(calls.c.id)).all() == before
