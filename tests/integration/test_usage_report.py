"""The Usage & cost report on a small known ledger, on every backend: figures, scoping, exports, what-if.

Expectations are computed here from the inserted records (plain Python over the list),
independently of the SQL.
"""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.accounts.users import Principal
from core.budgets.book import BudgetBook
from core.catalog import pricing
from core.clock import FakeClock
from core.reports import latency
from core.reports import usage as usage_report
from core.types import CallRecord
from tests.integration.conftest import MODELS, loaded_ledger, random_calls
from tests.integration.test_ledger import BACKENDS

ADMIN = Principal("ana", "Ana", "admin")
ANALYST = Principal("bo", "Bo", "analyst")
USERS = ["ana", "bo", "chen"]
PARIS = "Europe/Paris"
# The period under test and the one before it, both 5 days.
CUR = usage_report.Filters(date(2026, 11, 11), date(2026, 11, 15), "UTC")
NOW = datetime(2026, 11, 16, 12, tzinfo=UTC)


def dataset() -> list[CallRecord]:
    return random_calls(4, 160, start=datetime(2026, 11, 5, tzinfo=UTC), days=12, users=USERS,
                        statuses={"ok": 75, "error": 8, "cached": 10, "blocked": 7}, max_tokens=4000,
                        saved=(100, 5000), prices=pricing.default_price_table(),
                        error_codes={"error": "overloaded", "blocked": "rate_limited"})


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request, tmp_path_factory):
    """The data set recorded through the Ledger once per backend, with two budgets; tests only read."""
    recs = dataset()
    engine = loaded_ledger(request, tmp_path_factory.mktemp("usage"), recs)
    book = BudgetBook(engine, clock=FakeClock(), thresholds=(50, 80, 100))
    book.set_budget("bo", Decimal("0.5"))
    book.set_budget("*", Decimal("1000"))
    yield engine, recs, book
    engine.dispose()


def within(recs, f: usage_report.Filters):
    z = ZoneInfo(f.tz)
    lo, hi = datetime.combine(f.since, time(0), z), datetime.combine(f.until + timedelta(days=1), time(0), z)
    return [r for r in recs if lo <= r.ts < hi and (f.users is None or r.user in f.users)
            and (f.models is None or r.model in f.models)]


def figures(recs) -> dict:
    """The tiles' figures straight from the records."""
    attempted = [r for r in recs if r.status != "blocked"]
    billed_tokens, cost, saved_tokens = defaultdict(int), defaultdict(Decimal), defaultdict(int)
    for r in recs:
        billed_tokens[r.model] += r.usage.total_tokens
        cost[r.model] += r.cost_usd
        saved_tokens[r.model] += r.tokens_saved
    saved = sum((Decimal(saved_tokens[m]) * cost[m] / billed_tokens[m] for m in cost if billed_tokens[m]),
                Decimal(0))
    ok_latency = [r.latency_ms for r in recs if r.status == "ok"]
    return {"spend": sum((r.cost_usd for r in recs), Decimal(0)), "calls": len(recs),
            "tokens": sum(r.usage.total_tokens for r in recs),
            "cache_hit_rate": sum(r.status == "cached" for r in recs) / len(attempted),
            "saved": saved.quantize(Decimal("1e-10")),
            "error_rate": sum(r.status == "error" for r in recs) / len(attempted),
            "p95_latency": float(np.percentile(ok_latency, 95))}


def check_tiles(tiles, now: dict, before: dict) -> None:
    got = {t.key: t for t in tiles}
    assert set(got) == set(now)
    for key in now:
        for value, want in ((got[key].value, now[key]), (got[key].previous, before[key])):
            if isinstance(want, float):  # p95 latency from histograms: within core.reports.latency.PRECISION
                assert value == pytest.approx(want, rel=latency.PRECISION if key == "p95_latency" else 1e-9), key
            else:
                assert value == want, key


@pytest.mark.parametrize("f", [CUR, usage_report.Filters(date(2026, 11, 11), date(2026, 11, 15), PARIS,
                                                         models=("claude-opus-5-5", "claude-haiku-5-5"))])
def test_tiles_match_the_records_now_and_in_the_previous_period(loaded, f):
    engine, recs, _ = loaded
    prev = f.previous()
    assert (prev.since, prev.until) == (date(2026, 11, 6), date(2026, 11, 10))
    check_tiles(usage_report.tiles(engine, f), figures(within(recs, f)), figures(within(recs, prev)))


def test_report_frames_match_the_records(loaded):
    engine, recs, _ = loaded
    f = usage_report.Filters(date(2026, 11, 11), date(2026, 11, 15), PARIS)
    rep = usage_report.build(engine, ADMIN, f, top=5)
    mine = within(recs, f)
    z = ZoneInfo(PARIS)
    day_model = defaultdict(Decimal)
    tokens = defaultdict(lambda: [0, 0])
    for r in mine:
        day = r.ts.astimezone(z).date()
        day_model[(day, r.model)] += r.cost_usd
        tokens[day][0] += r.usage.input_tokens
        tokens[day][1] += r.usage.output_tokens
    got = {(pd.Timestamp(d).date(), m): v for d, m, v in rep.spend_by_day.itertuples(index=False)}
    assert got == pytest.approx({k: float(v) for k, v in day_model.items()})
    assert {pd.Timestamp(d).date(): [i, o] for d, i, o in rep.tokens_by_day.itertuples(index=False)} == dict(tokens)
    by_user = defaultdict(Decimal)
    for r in mine:
        by_user[r.user] += r.cost_usd
    assert dict(zip(rep.spend_by_user["user"], rep.spend_by_user["cost_usd"], strict=True)) == by_user
    assert list(rep.spend_by_user["cost_usd"]) == sorted(by_user.values(), reverse=True)
    errs = defaultdict(int)
    for r in mine:
        if r.status in ("error", "blocked"):
            errs[(r.status, r.error_code)] += 1
    assert {(s, c): n for s, c, n in rep.errors.itertuples(index=False)} == errs
    dearest = sorted(mine, key=lambda r: r.cost_usd, reverse=True)[:5]
    assert list(rep.expensive["cost_usd"]) == [r.cost_usd for r in dearest]
    for row in rep.latency_by_day.to_dict(orient="records"):
        ok = [r.latency_ms for r in mine if r.status == "ok" and r.ts.astimezone(z).date() == pd.Timestamp(row["day"]).date()]
        assert row["calls"] == len(ok)
        assert row["p95_latency_ms"] == pytest.approx(np.percentile(ok, 95), rel=latency.PRECISION)


@pytest.mark.parametrize("who", [ADMIN, ANALYST])
def test_report_tiles_from_its_charts_frames_equal_the_tiles_read_alone(loaded, who):
    """``build`` derives the period's tiles from its per-day frames: exactly what ``tiles`` reads on its own."""
    engine, recs, _ = loaded
    for f in (usage_report.Filters(date(2026, 11, 11), date(2026, 11, 15), PARIS),
              usage_report.Filters(date(2026, 11, 5), date(2026, 11, 16), "UTC", models=("claude-haiku-5-5",))):
        rep = usage_report.build(engine, who, f)
        assert rep.tiles == usage_report.tiles(engine, usage_report.scoped(who, f))
        assert next(t.value for t in rep.tiles if t.key == "calls") == len(within(recs, rep.filters)) > 0


def test_an_analyst_sees_only_their_own_rows_whatever_they_ask_for(loaded):
    engine, recs, _ = loaded
    for asked in (None, ("ana",), ("ana", "chen"), ("bo", "ana")):
        f = usage_report.Filters(CUR.since, CUR.until, users=asked)
        rep = usage_report.build(engine, ANALYST, f)
        assert set(rep.spend_by_user["user"]) == {"bo"}
        assert set(rep.expensive["user"]) <= {"bo"}
        check_tiles(rep.tiles, figures(within(recs, usage_report.Filters(CUR.since, CUR.until, users=("bo",)))),
                    figures(within(recs, usage_report.Filters(date(2026, 11, 6), date(2026, 11, 10), users=("bo",)))))
        assert set(usage_report.rows(engine, ANALYST, f)["user"]) == {"bo"}
        billed = [r for r in within(recs, CUR) if r.user == "bo" and r.status in ("ok", "error")]
        assert usage_report.what_if(engine, ANALYST, f, {}).original_usd == sum((r.cost_usd for r in billed),
                                                                                Decimal(0))
    assert usage_report.options(engine, ANALYST) == (["bo"], sorted({r.model for r in recs if r.user == "bo"}))
    assert usage_report.options(engine, ADMIN)[0] == sorted(USERS)


def test_downloads_hold_exactly_the_filtered_rows(loaded):
    engine, recs, _ = loaded
    f = usage_report.Filters(CUR.since, CUR.until, PARIS, users=("chen", "ana"), models=("claude-opus-5-5",))
    df = usage_report.rows(engine, ADMIN, f)
    want = within(recs, f)
    assert sorted(df["id"]) == sorted(r.id for r in want)
    assert "prompt_text" not in df.columns
    csv = pd.read_csv(io.BytesIO(usage_report.to_csv(df)), dtype={"cost_usd": str})
    assert sorted(Decimal(v) for v in csv["cost_usd"]) == sorted(r.cost_usd for r in want)
    parquet = pq.read_table(io.BytesIO(usage_report.to_parquet(df)))
    assert str(parquet.schema.field("cost_usd").type) == "decimal128(20, 10)"
    assert sorted(parquet.column("cost_usd").to_pylist()) == sorted(r.cost_usd for r in want)
    assert set(parquet.column("id").to_pylist()) == {r.id for r in want}


def test_what_if_reprices_every_billed_call_on_the_target(loaded):
    engine, recs, _ = loaded
    table = pricing.default_price_table()
    target = "claude-opus-5-5"
    mapping = usage_report.all_on(target, MODELS)
    w = usage_report.what_if(engine, ADMIN, CUR, mapping, table)
    billed = [r for r in within(recs, CUR) if r.status in ("ok", "error")]
    want_new = sum((pricing.cost(r.usage, table.row_for(target, r.ts)) for r in billed), Decimal(0))
    assert w.original_usd == sum((r.cost_usd for r in billed), Decimal(0))
    assert w.new_usd == want_new
    assert w.difference_usd == want_new - w.original_usd
    assert set(w.by_model["priced_as"]) == {target}
    # A tier mapping: only the simple tier's model moves.
    tiers = usage_report.tier_mapping({"simple": "claude-haiku-5-5", "balanced": "claude-sonnet-5-5"},
                                      {"simple": "claude-sonnet-5-5", "balanced": "claude-sonnet-5-5"})
    w2 = usage_report.what_if(engine, ADMIN, CUR, tiers, table).by_model.set_index("model")
    haiku = [r for r in billed if r.model == "claude-haiku-5-5"]
    assert w2.loc["claude-haiku-5-5", "new_cost_usd"] == sum(
        (pricing.cost(r.usage, table.row_for("claude-sonnet-5-5", r.ts)) for r in haiku), Decimal(0))
    assert w2.loc["claude-sonnet-5-5", "difference_usd"] == 0


def test_budgets_show_progress_and_alert_state_to_whom_they_concern(loaded):
    engine, recs, book = loaded
    spent_bo = sum((r.cost_usd for r in recs if r.user == "bo"), Decimal(0))  # all in November
    board = usage_report.budgets(book, ADMIN, NOW).set_index("user_id")
    assert set(board.index) == {"*", "bo"}
    assert board.loc["bo", "spent_usd"] == spent_bo
    pct = float(spent_bo / Decimal("0.5") * 100)
    assert board.loc["bo", "progress"] == pytest.approx(min(1.0, pct / 100), abs=1e-4)
    assert board.loc["bo", "alert"] == usage_report.alert_state(pct, (50, 80, 100))
    assert spent_bo > Decimal("0.5") and board.loc["bo", "alert"] == "over budget"
    assert board.loc["*", "alert"] == "ok"
    assert list(usage_report.budgets(book, ANALYST, NOW)["user_id"]) == ["bo"]
    assert usage_report.budgets(book, Principal("chen", "Chen", "analyst"), NOW).empty
