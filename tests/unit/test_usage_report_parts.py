"""Pure parts of the usage report and the demo data generator: scoping, periods, alerts, what-if tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from core.accounts.users import Principal
from core.catalog import pricing
from core.reports import demo_data
from core.reports import usage as usage_report
from core.types import Usage

ADMIN, BOB = Principal("alice", "Alice", "admin"), Principal("bob", "Bob", "analyst")


@pytest.mark.parametrize("asked", [None, [], ["alice"], ["alice", "carol"], ["bob"], ("bob", "alice")])
def test_an_analyst_only_ever_covers_themselves(asked):
    assert usage_report.visible_users(BOB, asked) == ("bob",)


def test_an_admin_covers_what_they_ask_for_or_everyone():
    assert usage_report.visible_users(ADMIN, None) is None
    assert usage_report.visible_users(ADMIN, []) is None
    assert usage_report.visible_users(ADMIN, ["carol", "bob", "carol"]) == ("bob", "carol")


def test_an_unknown_role_is_treated_as_an_analyst_and_nobody_is_refused():
    assert usage_report.visible_users(Principal("eve", "Eve", "auditor"), ["alice"]) == ("eve",)
    with pytest.raises(PermissionError):
        usage_report.visible_users(None, ["alice"])
    with pytest.raises(PermissionError):
        usage_report.visible_users(Principal("", "", "admin"))


def test_scoped_filters_replace_the_user_filter():
    f = usage_report.Filters(date(2026, 1, 1), date(2026, 1, 31), users=("alice",))
    assert usage_report.scoped(BOB, f).users == ("bob",)
    assert usage_report.scoped(ADMIN, f).users == ("alice",)


@pytest.mark.parametrize("since,until,prev", [
    (date(2026, 3, 1), date(2026, 3, 31), (date(2026, 1, 29), date(2026, 2, 28))),
    (date(2026, 3, 5), date(2026, 3, 5), (date(2026, 3, 4), date(2026, 3, 4))),
    (date(2026, 1, 1), date(2026, 1, 7), (date(2025, 12, 25), date(2025, 12, 31))),
])
def test_the_previous_period_has_the_same_length_just_before(since, until, prev):
    f = usage_report.Filters(since, until, "Europe/Paris", models=("m",))
    p = f.previous()
    assert (p.since, p.until) == prev
    assert p.days == f.days and (p.tz, p.models) == ("Europe/Paris", ("m",))


def test_filters_refuse_a_backwards_period_and_a_bad_zone():
    with pytest.raises(ValueError):
        usage_report.Filters(date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValueError):
        usage_report.Filters(date(2026, 1, 1), date(2026, 1, 2), "Mars/Olympus")


@pytest.mark.parametrize("pct,state", [(0, "ok"), (49.99, "ok"), (50, "50 %"), (79, "50 %"), (80, "80 %"),
                                       (99.9, "80 %"), (100, "over budget"), (float("inf"), "over budget")])
def test_alert_state(pct, state):
    assert usage_report.alert_state(pct, (80, 50, 100)) == state


def test_tile_delta():
    t = usage_report.Tile("spend", "Spend", "usd", Decimal("3.5"), Decimal("1.25"), False)
    assert t.delta == Decimal("2.25")
    assert usage_report.Tile("p95", "p95", "ms", 10.0, None, False).delta is None


def test_tier_mapping_and_all_on():
    current = {"simple": "h", "balanced": "s", "complex": "o"}
    assert usage_report.tier_mapping(current, {"simple": "s", "balanced": "s"}) == {"h": "s"}
    assert usage_report.tier_mapping(current, current) == {}
    assert usage_report.all_on("o", ["h", "s", "o"]) == {"h": "o", "s": "o"}


def test_a_remapped_table_prices_the_source_as_the_target_even_before_its_release():
    table = pricing.default_price_table()
    whatif = usage_report.remapped(table, {"claude-opus-5-5": "claude-haiku-5-5"})
    usage = Usage(1000, 500, 200, 0, 3000)
    haiku = table.row_for("claude-haiku-5-5")
    early = date(2026, 1, 1)  # before Haiku 5.5's first price
    assert table.row_for("claude-haiku-5-5", early) is None
    assert whatif.price(usage, "claude-opus-5-5", early).cost == pricing.cost(usage, table.rows("claude-haiku-5-5")[0])
    assert whatif.price(usage, "claude-opus-5-5", date(2026, 11, 20)).cost == pricing.cost(usage, haiku)
    assert whatif.price(usage, "claude-sonnet-5-5").cost == table.price(usage, "claude-sonnet-5-5").cost
    with pytest.raises(ValueError):
        usage_report.remapped(table, {"claude-opus-5-5": "no-such-model"})


def test_synth_costs_equal_the_price_table_including_the_long_prompt_band():
    table = pricing.default_price_table()
    df = demo_data.synth(20_000, datetime(2026, 10, 10), 30, seed=5, table=table)
    assert list(df.columns) == list(demo_data.COLUMNS)
    assert df["ts"].is_monotonic_increasing
    billed = df[df["price_version"].notna() & df["status"].isin(["ok", "error"])]
    band_rows = searches = 0
    for r in billed.itertuples(index=False):
        usage = Usage(int(r.input_tokens), int(r.output_tokens), int(r.cache_creation_5m_tokens),
                      int(r.cache_creation_1h_tokens), int(r.cache_read_tokens),
                      web_search_requests=int(r.web_search_requests))
        row = table.row_for(r.model, r.ts.to_pydatetime())
        band_rows += pricing.band_applies(row, usage.prompt_tokens)
        want = table.price(usage, r.model, r.ts.to_pydatetime())
        assert Decimal(int(r.cost_units)).scaleb(-10) == want.cost
        assert {p: Decimal(int(getattr(r, u))).scaleb(-10) for p, u in zip(pricing.COST_PARTS, demo_data.PART_UNITS,
                                                                          strict=True)} == want.parts
        searches += usage.web_search_requests
    assert band_rows > 0 and searches > 0  # the band and web search were exercised


def test_synth_is_reproducible_and_never_uses_a_model_before_its_price():
    a = demo_data.synth(3000, datetime(2026, 9, 20), 30, seed=9)
    b = demo_data.synth(3000, datetime(2026, 9, 20), 30, seed=9)
    assert a.equals(b)
    table = pricing.default_price_table()
    assert all(table.row_for(m, t.to_pydatetime()) is not None for m, t in zip(a["model"], a["ts"], strict=True))
