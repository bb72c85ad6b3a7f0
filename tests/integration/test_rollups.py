"""Contract: every dashboard aggregate read from the rollups (plus the raw rows not in them) equals the same
aggregate over the raw calls, on DuckDB and PostgreSQL, with late rows, refusals, batch rows, several users,
models and keys, and month and time-zone edges; and a refresh folds each row exactly once."""

from __future__ import annotations

import random
import threading
import uuid
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from core.ledger import rollup
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from core.ledger.schema import calls
from core.reports import demo_data, latency, queries
from core.reports.reprice import reprice
from tests.conftest import pg_schema
from tests.integration.conftest import LEDGER_BACKENDS

USERS, MODELS, KEYS = ("ana", "bo", "cy"), ("claude-haiku-5-5", "claude-sonnet-4-6", "claude-opus-4-6"), ("k1", "k2", None)
START = datetime(2026, 10, 25)  # naive UTC: across the end of October and November, into December
SPAN = (date(2026, 10, 25), date(2026, 12, 3))


KEYS = "model, status, error_code, service_tier, inference_geo, prompt_band"
# The rolled calls summed per UTC month and user, and per UTC day over every user (money in 1e-10 USD, as stored).
MONTHLY = ("SELECT month, user_id, " + KEYS + ", sum(calls), sum(cost_usd), sum(output_tokens) FROM {} "
           "GROUP BY month, user_id, " + KEYS + " ORDER BY month, user_id, " + KEYS)
DAILY_ALL = ("SELECT day, " + KEYS + ", sum(calls), sum(cost_usd), sum(input_tokens) FROM {} GROUP BY day, " + KEYS
             + " ORDER BY day, " + KEYS)
RAW = ("(SELECT date_trunc('month', ts) AS month, date_trunc('day', ts) AS day, user_id, model, status, "
       "coalesce(error_code, '') AS error_code, coalesce(service_tier, '') AS service_tier, "
       "coalesce(inference_geo, '') AS inference_geo, " + rollup.KEY_SQL["prompt_band"] + " AS prompt_band, "
       "1 AS calls, CAST(cost_usd * 10000000000 AS BIGINT) AS cost_usd, output_tokens, input_tokens FROM calls) AS r")


def rows(n: int, start: datetime, hours: float, seed: int, source: str = "cli") -> list[dict]:
    """``n`` varied calls between ``start`` and ``hours`` later (every outcome, tier, geo and prompt size)."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        status = rnd.choices(("ok", "error", "cached", "blocked"), (80, 8, 7, 5))[0]
        billed = status in ("ok", "error")
        tin = rnd.choice((800, 5_000, 150_000, 250_000)) if billed else 0
        split = billed and rnd.random() < 0.8
        cost = Decimal(rnd.randint(1, 10**7)).scaleb(-10) if billed else Decimal(0)
        out.append({
            "id": str(uuid.uuid4()), "ts": start + timedelta(seconds=rnd.uniform(0, hours * 3600)),
            "user_id": rnd.choice(USERS), "model": rnd.choice(MODELS), "status": status,
            "error_code": rnd.choice(("overloaded", "timeout", None)) if status == "error"
            else rnd.choice(("budget_exceeded", "rate_limited")) if status == "blocked" else None,
            "input_tokens": tin, "output_tokens": rnd.randint(0, 900) if billed else 0,
            "cache_creation_5m_tokens": rnd.choice((0, 0, 2_000)) if billed else 0,
            "cache_creation_1h_tokens": 0, "cache_read_tokens": rnd.choice((0, 4_000)) if billed else 0,
            "tokens_saved": rnd.randint(100, 900) if status == "cached" else 0,
            "web_search_requests": rnd.choice((0, 0, 1)) if billed else 0, "cost_usd": cost,
            "cost_input_usd": cost if split else None, "cost_output_usd": Decimal(0) if split else None,
            "unpriced": billed and rnd.random() < 0.02,
            "latency_ms": rnd.lognormvariate(7, 0.6) if status != "blocked" else rnd.uniform(0.5, 4),
            "ttft_ms": rnd.lognormvariate(6, 0.5) if rnd.random() < 0.7 else None,
            "key_label": rnd.choice(KEYS), "source": source,
            "service_tier": rnd.choice(("standard", "batch", None)), "inference_geo": rnd.choice(("global", "us", None)),
            "batch": rnd.random() < 0.1})
    return out


@pytest.fixture(params=LEDGER_BACKENDS)
def pair(request, tmp_path):
    """Two ledgers holding the same rows: one is refreshed (rollups), the other never is (raw calls only)."""
    with ExitStack() as stack:
        if request.param == "duckdb-file":
            urls = [f"duckdb:///{tmp_path / name}" for name in ("rolled.duckdb", "raw.duckdb")]
        else:
            urls = [stack.enter_context(pg_schema("t_i14_")) for _ in range(2)]
        engines = [make_engine(u) for u in urls]
        for e in engines:
            migrate(e)
        yield engines
        for e in engines:
            e.dispose()


def add(engines, batch: list[dict]) -> None:
    for e in engines:
        with e.begin() as conn:
            conn.execute(calls.insert(), batch)


def figures(engine) -> dict:
    """Every aggregate the Usage & cost page (and the bench) reads, over periods with awkward edges."""
    out = {}
    periods = [("UTC", *SPAN), ("America/New_York", *SPAN), ("Europe/Paris", date(2026, 11, 1), date(2026, 11, 30)),
               ("Asia/Kolkata", *SPAN), ("Asia/Tokyo", date(2026, 10, 31), date(2026, 11, 1))]
    for tz, since, until in periods:
        for users in (None, ["ana"], ["bo", "cy"]):
            args = {"since": since, "until": until, "tz": tz, "users": users}
            key = (tz, since, tuple(users or ()))
            for by in (["day"], ["user"], ["model"], ["day", "model"], ["user", "model"]):
                out[(*key, *by)] = queries.usage_by(engine, by, **args)
            out[(*key, "models")] = queries.usage_by(engine, "model", models=[MODELS[0]], **args)
            out[(*key, "totals")] = queries.totals(engine, **args)
            out[(*key, "errors")] = queries.errors_by_code(engine, **args)
            out[(*key, "lat")] = queries.latency_summary(engine, **args)
            out[(*key, "lat_day")] = queries.latency_by_day(engine, **args)
            for groups in (["day"], ["day", "model"]):  # the page's histograms themselves, bucket by bucket
                hist = queries.latency_histograms(engine, groups, **args)
                out[(*key, "hist", *groups)] = hist.sort_values([*groups, "metric", "bucket_no"]).reset_index(drop=True)
            out[(*key, "reprice")] = reprice(engine, **args)
    moment = datetime(2026, 11, 20, 13, 37, 11, tzinfo=UTC)  # month to date: an instant, mid-hour
    out["mtd"] = queries.usage_by(engine, "user", datetime(2026, 11, 1, tzinfo=UTC), moment, "Europe/Paris")
    for col in ("user", "model"):
        out[("distinct", col)] = queries.distinct(engine, col)
        out[("distinct", col, "ana")] = queries.distinct(engine, col, users=["ana"])
    return out


def same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], pd.DataFrame):
            pd.testing.assert_frame_equal(a[k].reset_index(drop=True), b[k].reset_index(drop=True), check_dtype=False,
                                          obj=str(k))
        else:
            assert a[k] == b[k], k


def test_rollups_plus_open_rows_equal_the_raw_calls_with_late_rows(pair):
    rolled, raw = pair
    add(pair, rows(2500, START, 24 * 38, seed=1))
    assert rollup.refresh(rolled) == 2500 and rollup.refresh(rolled) == 0  # idempotent: nothing left to fold
    # Late rows for hours already rolled (a spool replay), and the open hour's rows: not yet rolled.
    add(pair, rows(300, START + timedelta(days=3), 24 * 30, seed=2) + rows(40, datetime(2026, 12, 3, 10), 1, seed=3))
    with rolled.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar() == 340
        assert conn.execute(sa.text("SELECT sum(calls) FROM usage_hourly_all")).scalar() == 2500
    truth = figures(raw)
    assert not truth[("UTC", SPAN[0], (), "totals")].empty
    same(figures(rolled), truth)  # rollups plus 340 unrolled rows
    assert rollup.refresh(rolled) == 340
    same(figures(rolled), truth)  # everything rolled
    with rolled.connect() as conn:
        assert conn.execute(sa.text("SELECT sum(calls) FROM usage_daily")).scalar() == 2840
        assert conn.execute(sa.text("SELECT sum(n) FROM latency_hourly WHERE metric = 0")).scalar() == \
            conn.execute(sa.text("SELECT count(*) FROM calls WHERE status = 'ok'")).scalar()
        for sql in (MONTHLY, DAILY_ALL):  # schema 14's rollups hold exactly the raw calls' sums
            assert conn.execute(sa.text(sql.format("usage_monthly" if sql is MONTHLY else "usage_daily_all"))).all() \
                == conn.execute(sa.text(sql.format(RAW))).all()
    # The figures really come from the rollups: a rolled row changed behind their back is not seen (per user, the
    # year reads November from usage_monthly; per model, over every user, the UTC days read usage_daily_all).
    spend = queries.totals(rolled, *SPAN)["cost_usd"].iloc[0]
    per_user, per_model = queries.usage_by(rolled, "user", *SPAN), queries.usage_by(rolled, "model", *SPAN)
    with rolled.begin() as conn:
        conn.execute(sa.text("UPDATE calls SET cost_usd = cost_usd + 1 WHERE ts >= :a AND ts < :b"),
                     {"a": datetime(2026, 11, 5), "b": datetime(2026, 11, 6)})
    assert queries.totals(rolled, *SPAN)["cost_usd"].iloc[0] == spend
    assert queries.usage_by(rolled, "user", *SPAN).equals(per_user)
    assert queries.usage_by(rolled, "model", *SPAN).equals(per_model)
    # Latency per New York day too comes from the rollups (the daily histograms and the hours moved across).
    ny = {"since": SPAN[0], "until": SPAN[1], "tz": "America/New_York"}
    lat = queries.latency_by_day(rolled, **ny)
    with rolled.begin() as conn:
        conn.execute(sa.text("UPDATE calls SET latency_ms = latency_ms * 3 WHERE ts >= :a AND ts < :b"),
                     {"a": datetime(2026, 11, 5), "b": datetime(2026, 11, 8)})
    assert queries.latency_by_day(rolled, **ny).equals(lat)


def test_removing_demo_rows_takes_them_out_of_the_rollups(pair):
    rolled, raw = pair
    mine, demo = rows(500, START, 24 * 20, seed=4), rows(400, START, 24 * 20, seed=5, source=demo_data.SOURCE)
    add(pair, mine + demo[:300])
    rollup.refresh(rolled)
    add(pair, demo[300:])  # some demo rows still unrolled when they are removed
    assert demo_data.remove(rolled) == 400 and demo_data.remove(raw) == 400
    same(figures(rolled), figures(raw))
    with rolled.connect() as conn:
        assert conn.execute(sa.text("SELECT min(calls) FROM usage_hourly")).scalar() > 0  # no row of zeros left


def test_refreshes_racing_writers_fold_every_row_once(pair):
    """Refreshers (several at once, as several replicas run them) while rows keep arriving, late ones too."""
    rolled, raw = pair
    batches = [rows(60, START + timedelta(days=i % 9), 24 * 4, seed=10 + i) for i in range(20)]
    stop = threading.Event()
    errors: list[BaseException] = []
    engines = [make_engine(str(rolled.url.render_as_string(hide_password=False))) for _ in range(2)]

    def refresher(engine) -> None:
        while not stop.is_set():
            try:
                rollup.refresh(engine)
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)
                return

    threads = [threading.Thread(target=refresher, args=(e,)) for e in (rolled, *engines)]
    for t in threads:
        t.start()
    try:
        for batch in batches:
            add(pair, batch)
    finally:
        stop.set()
        for t in threads:
            t.join()
        for e in engines:
            e.dispose()
    assert not errors
    rollup.refresh(rolled, wait=True)
    with rolled.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar() == 0
        assert conn.execute(sa.text("SELECT sum(calls) FROM usage_hourly")).scalar() == 1200
    same(figures(rolled), figures(raw))


def test_percentiles_read_as_arrays_are_the_histograms_figures(pair):
    """The page's latency read (one row of arrays per histogram, core.reports.latency.percentiles_and_whole) gives
    the very frames ``from_histograms`` gives for the bucket rows, per group and over the whole period: from the
    rollups (daily histograms, moved hours, late rows) and from raw calls alike, across DST and odd zones."""
    rolled, _ = pair
    add(pair, rows(2000, START, 24 * 38, seed=21))
    rollup.refresh(rolled)
    add(pair, rows(200, START + timedelta(days=2), 24 * 30, seed=22))  # late rows: read raw beside the rollups
    periods = [("UTC", *SPAN), ("America/New_York", *SPAN), ("Europe/Paris", date(2026, 10, 24), date(2026, 11, 2)),
               ("Asia/Kolkata", *SPAN), ("Pacific/Kiritimati", *SPAN), ("America/New_York", date(2026, 11, 1),
                                                                             date(2026, 11, 1))]
    checked = 0
    for engine in pair:
        for tz, since, until in periods:
            start, end = queries.window(since, until, tz)
            for users, models in ((None, None), (["ana"], None), (None, [MODELS[1]])):
                for groups in (["day"], ["model"], ["day", "model"], []):
                    hist = latency.histograms(engine, groups, start, end, tz, users, models)
                    per, whole = latency.percentiles_and_whole(engine, groups, start, end, tz, users, models)
                    for got, want in ((per, latency.from_histograms(hist, groups)),
                                      (whole, latency.from_histograms(hist, [])),
                                      (latency.percentiles(engine, groups, start, end, tz, users, models),
                                       latency.from_histograms(hist, groups))):
                        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=f"{tz} {users} {groups}")
                    checked += len(per)
                if start + timedelta(days=2) < end:  # read in two pieces cut at a local midnight: the same frames
                    cut = queries.window(since + timedelta(days=1), until, tz)[0]
                    halves = latency.percentiles_and_whole(engine, ["day"], start, end, tz, users, models, cuts=(cut,),
                                                           run=lambda reads, e=engine: queries.at_once(e, reads))
                    for got, want in zip(halves, latency.percentiles_and_whole(engine, ["day"], start, end, tz, users,
                                                                               models), strict=True):
                        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=f"halves {tz} {users}")
    assert checked > 1000
    empty, nothing = latency.percentiles_and_whole(rolled, ["day"], datetime(2020, 1, 1), datetime(2020, 2, 1))
    pd.testing.assert_frame_equal(empty, latency.from_histograms(pd.DataFrame(
        columns=["day", "metric", "bucket_no", "n"]), ["day"]))
    assert nothing.to_dict("records") == [{"calls": 0, **dict.fromkeys(latency.COLUMNS[1:])}]


def test_local_days_on_postgresql_sum_whole_utc_days_and_the_hours_moved_across(pair):
    """Usage per New York day × model on PostgreSQL reads usage_daily_all's whole UTC days plus the hours that
    belong to the day before (DuckDB scans the hourly rollup): the same frames as the raw calls, a model called
    only in such hours included (its UTC day's row taken away entirely, no row of zeros), across the DST end."""
    rolled, raw = pair
    base = rows(1500, START, 24 * 38, seed=31)
    moved = rows(12, datetime(2026, 11, 10, 2), 1, seed=32)  # 21:00-22:00 on 9 November in New York
    for r in moved:
        r["model"] = "claude-only-late"
    add(pair, base + moved)
    rollup.refresh(rolled)
    add(pair, rows(100, START + timedelta(days=5), 24 * 20, seed=33))  # late rows, read raw
    for tz in ("America/New_York", "Europe/Paris", "Pacific/Kiritimati"):
        for users in (None, ["ana"]):
            for by in (["day", "model"], ["day"], ["day", "user"]):
                got = queries.usage_by(rolled, by, *SPAN, tz, users=users)
                pd.testing.assert_frame_equal(got, queries.usage_by(raw, by, *SPAN, tz, users=users), check_exact=True,
                                              obj=f"{tz} {users} {by}")
    late = queries.usage_by(rolled, ["day", "model"], *SPAN, "America/New_York")
    assert late[late["model"] == "claude-only-late"]["day"].tolist() == [date(2026, 11, 9)]
    assert (late["calls"] > 0).all()
    # Where the figures come from: a day of usage_daily_all changed behind the rollups' back shows on PostgreSQL only.
    with rolled.begin() as conn:
        changed = conn.execute(sa.text("UPDATE usage_daily_all SET calls = calls + 1000 WHERE day = :d"),
                               {"d": datetime(2026, 11, 15)}).rowcount
    after = queries.usage_by(rolled, ["day"], *SPAN, "America/New_York")
    before = queries.usage_by(raw, ["day"], *SPAN, "America/New_York")
    moved_by = (after.set_index("day")["calls"] - before.set_index("day")["calls"]).to_dict()
    pg = rolled.dialect.name == "postgresql"
    assert changed and moved_by == {d: (1000 * changed if pg and d == date(2026, 11, 15) else 0) for d in moved_by}
