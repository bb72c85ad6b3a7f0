"""Spend by token type on every backend: the stored split, exact, in the report, the exports and re-pricing.

Expectations come from the records themselves (the Priced parts each was recorded with), in plain
Python, independently of the SQL.
"""

from __future__ import annotations

import io
import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.accounts.users import Principal
from core.catalog import pricing
from core.reports import breakdown, queries
from core.reports import usage as usage_report
from core.reports.reprice import reprice
from core.types import CallRecord, Usage
from tests.conftest import pg_schema
from tests.integration.conftest import read_only_ledger
from tests.integration.test_ledger import BACKENDS

ADMIN = Principal("ana", "Ana", "admin")
MODELS = ["claude-haiku-5-5", "claude-opus-5-5", "claude-haiku-4-5-20251001"]  # the last has no US factor
PERIOD = usage_report.Filters(date(2026, 11, 10), date(2026, 11, 16), "Europe/Paris")
GROUPS = {"input": ("input",), "output": ("output",), "cache_writes": ("cache_write_5m", "cache_write_1h"),
          "cache_reads": ("cache_read",), "server_tools": ("server_tools",)}


def dataset() -> list[CallRecord]:
    """Billed calls with web searches, US inference and the batch tier, $0 rows, and billed rows with no split."""
    rnd = random.Random(12)
    table = pricing.default_price_table()
    start = datetime(2026, 11, 9, 20, tzinfo=UTC)
    recs = []
    for i in range(150):
        status = rnd.choices(["ok", "error", "cached", "blocked"], [80, 6, 8, 6])[0]
        model, ts = rnd.choice(MODELS), start + timedelta(minutes=rnd.randrange(0, 8 * 24 * 60))
        billed = status in ("ok", "error")
        usage = Usage(*(rnd.randrange(0, 3000) if billed else 0 for _ in range(5)),
                      web_search_requests=rnd.choice([0, 0, 0, 1, 3]) if billed else 0,
                      service_tier=rnd.choice(["standard", "standard", "batch", None]),
                      inference_geo=rnd.choice(["global", "us", None]))
        priced = table.price(usage, model, ts)
        legacy = billed and i % 10 == 0  # as recorded before schema 6: the cost, no split
        recs.append(CallRecord(
            id=str(uuid.uuid4()), ts=ts, user=rnd.choice(["ana", "bo"]), model=model, status=status, usage=usage,
            cost_usd=priced.cost if billed else Decimal(0), price_version=priced.price_version,
            cost_parts=dict(priced.parts) if billed and not legacy else None))
    return recs


@pytest.fixture(scope="module")
def pg_module_url():
    with pg_schema("ub_") as url:
        yield url


loaded = read_only_ledger(dataset, "breakdown", BACKENDS)


def within(recs, f: usage_report.Filters) -> list[CallRecord]:
    z = ZoneInfo(f.tz)
    return [r for r in recs if f.since <= r.ts.astimezone(z).date() <= f.until]


def expected_parts(recs) -> dict[str, Decimal]:
    out = dict.fromkeys([*GROUPS, "not_split"], Decimal(0))
    for r in recs:
        if r.cost_parts is None:
            out["not_split"] += r.cost_usd
            continue
        for group, parts in GROUPS.items():
            out[group] += sum((r.cost_parts[p] for p in parts), Decimal(0))
    return out


def test_the_data_set_exercises_every_modifier(loaded):
    _, recs = loaded
    billed = [r for r in recs if r.cost_parts]
    assert any(r.cost_parts["server_tools"] for r in billed)
    assert any(r.usage.inference_geo == "us" and r.model == "claude-opus-5-5" for r in billed)
    assert any(r.usage.service_tier == "batch" for r in billed)


def test_spend_by_part_is_exact_and_adds_up_to_the_spend(loaded):
    engine, recs = loaded
    report = usage_report.build(engine, ADMIN, PERIOD)
    got = dict(zip(report.spend_by_part["part"], report.spend_by_part["cost_usd"], strict=True))
    want = expected_parts(within(recs, PERIOD))
    assert got == want and want["not_split"] > 0 and want["server_tools"] > 0
    spend = sum((r.cost_usd for r in within(recs, PERIOD)), Decimal(0))
    assert sum(got.values(), Decimal(0)) == spend
    assert report.spend_by_part["share"].sum() == pytest.approx(1.0)


def test_spend_by_part_per_local_day(loaded):
    engine, recs = loaded
    daily = usage_report.build(engine, ADMIN, PERIOD).spend_by_part_day
    z = ZoneInfo(PERIOD.tz)
    want: dict[tuple, Decimal] = defaultdict(Decimal)
    for r in within(recs, PERIOD):
        day = r.ts.astimezone(z).date()
        for group, cost in expected_parts([r]).items():
            if cost:
                want[(day, breakdown.LABELS[group])] += cost
    got = {(pd.Timestamp(d).date(), p): v for d, p, v in daily.itertuples(index=False)}
    assert set(got) == set(want)
    assert all(got[k] == pytest.approx(float(v)) for k, v in want.items())


def test_an_analyst_sees_only_their_own_split(loaded):
    engine, recs = loaded
    report = usage_report.build(engine, Principal("bo", "Bo", "analyst"), PERIOD)
    got = dict(zip(report.spend_by_part["part"], report.spend_by_part["cost_usd"], strict=True))
    assert got == expected_parts([r for r in within(recs, PERIOD) if r.user == "bo"])


def test_exports_carry_the_split_the_counts_tier_and_geo(loaded):
    engine, recs = loaded
    df = usage_report.rows(engine, ADMIN, PERIOD)
    by_id = {r.id: r for r in within(recs, PERIOD)}
    assert set(df["id"]) == set(by_id)
    csv = pd.read_csv(io.BytesIO(usage_report.to_csv(df)), dtype=str, keep_default_na=False)
    parquet = pq.read_table(io.BytesIO(usage_report.to_parquet(df))).to_pylist()
    for part in pricing.COST_PARTS:
        assert str(pq.read_table(io.BytesIO(usage_report.to_parquet(df))).schema.field(f"cost_{part}_usd").type) \
            == "decimal128(20, 10)"
    for row, line in zip(parquet, csv.to_dict("records"), strict=True):
        r = by_id[row["id"]]
        assert row["web_search_requests"] == r.usage.web_search_requests == int(line["web_search_requests"])
        assert (row["service_tier"], row["inference_geo"]) == (r.usage.service_tier, r.usage.inference_geo)
        for part in pricing.COST_PARTS:
            stored = None if r.cost_parts is None else r.cost_parts[part]
            if r.cost_parts is None and not r.cost_usd:
                stored = Decimal(0)  # a $0 row's split is all zeros
            assert row[f"cost_{part}_usd"] == stored
            assert (Decimal(line[f"cost_{part}_usd"]) if line[f"cost_{part}_usd"] else None) == stored


def test_repricing_at_the_same_table_changes_nothing_with_searches_geo_and_batch(loaded):
    engine, recs = loaded
    table = pricing.default_price_table()
    for per_call in (False, True):
        df = reprice(engine, PERIOD.since, PERIOD.until, table, tz=PERIOD.tz, per_call=per_call)
        assert all(d == 0 for d in df["difference_usd"]), df[df["difference_usd"] != 0]
    assert queries.UNSPLIT in queries.totals(engine, **PERIOD.args()).columns
