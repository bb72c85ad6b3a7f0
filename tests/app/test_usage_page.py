"""Usage & cost page in AppTest: renders for each role, scopes analysts, follows the filters."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.ledger.engine import make_engine
from core.reports import demo_data

PAGE = "pages/usage.py"


@pytest.fixture
def seeded(demo_env):
    """Three weeks of demo calls (alice, bob, carol and others) and demo budgets in the private ledger."""
    engine = make_engine(os.environ["TOLLGATE_LEDGER_URL"])
    n = demo_data.generate(engine, days=21, now=datetime.now(UTC), seed=7)
    engine.dispose()
    assert n > 500
    return n


def ledger_count(where: str, **params) -> int:
    engine = make_engine(os.environ["TOLLGATE_LEDGER_URL"])
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM calls WHERE {where}"), params).scalar_one())
    finally:
        engine.dispose()


def charts(at) -> dict[str, dict]:
    """Every plotly chart on the page, by title, as its figure JSON."""
    out = {}
    for el in at.get("plotly_chart"):
        fig = json.loads(el.proto.spec)
        out[fig["layout"]["title"]["text"]] = fig
    return out


def traces(at, title: str) -> list[dict]:
    return charts(at)[title]["data"]


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def multiselect(at, label: str):
    return next(w for w in at.multiselect if w.label == label)


def test_renders_for_admin_with_every_part(console, seeded):
    at = console(PAGE, user="alice")
    assert at.title[0].value == "Usage & cost"
    assert [m.label for m in at.metric][:7] == ["Spend", "Calls", "Tokens", "Cache hit rate",
                                                "Saved by cache (est.)", "Error rate", "p95 latency"]
    assert set(charts(at)) >= {"Spend per day by model (USD)", "Spend by user (USD)", "Tokens per day",
                               "Latency and time to first token (ms, successful calls)",
                               "Errors and refusals by code"}
    users = {x for t in traces(at, "Spend by user (USD)") for x in t["x"]}
    assert {"alice", "bob", "carol"} <= users
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download Parquet"]
    bars = [p.proto.text for p in at.get("progress")]
    assert any("Organisation" in t for t in bars) and any("bob" in t for t in bars)
    # The Calls tile is the ledger's count over the default 30 local days (UTC here).
    today = datetime.now(UTC).date()
    n = ledger_count("ts >= :lo", lo=datetime.combine(today - timedelta(days=29), datetime.min.time()))
    assert metric(at, "Calls") == f"{n:,}"


def test_renders_for_analyst_with_only_their_rows(console, seeded):
    at = console(PAGE, user="bob")
    assert not [w for w in at.multiselect if w.label == "Users"]  # no user filter at all
    assert {x for t in traces(at, "Spend by user (USD)") for x in t["x"]} == {"bob"}
    assert set(at.dataframe[0].value["user"]) == {"bob"}
    bars = [p.proto.text for p in at.get("progress")]
    assert bars and all("bob" in t for t in bars)  # not alice's, carol's or the organisation's
    n = ledger_count("user_id = 'bob' AND ts >= :lo",
                     lo=datetime.combine(datetime.now(UTC).date() - timedelta(days=29), datetime.min.time()))
    assert metric(at, "Calls") == f"{n:,}"


def test_analyst_cannot_widen_their_view_by_any_filter(console, seeded):
    at = console(PAGE, user="carol")
    models = multiselect(at, "Models")
    for model in models.options:
        models.set_value([model]).run()
        assert not at.exception
        seen = {x for t in traces(at, "Spend by user (USD)") for x in t["x"]}
        assert seen <= {"carol"}
        assert set(at.dataframe[0].value["user"]) <= {"carol"}
    # A forged widget state (the admin's user filter) is ignored for an analyst.
    at.session_state["usage_users"] = ["alice", "bob"]
    models.set_value([]).run()
    assert {x for t in traces(at, "Spend by user (USD)") for x in t["x"]} == {"carol"}
    at.selectbox(key="usage_tz").set_value("Asia/Tokyo").run()
    assert set(at.dataframe[0].value["user"]) == {"carol"}


def test_model_filter_changes_the_charted_data(console, seeded):
    at = console(PAGE, user="alice")
    before = {t["name"] for t in traces(at, "Spend per day by model (USD)")}
    assert len(before) >= 3
    calls_before = metric(at, "Calls")
    pick = sorted(before)[0]
    multiselect(at, "Models").set_value([pick]).run()
    assert not at.exception
    assert {t["name"] for t in traces(at, "Spend per day by model (USD)")} == {pick}
    assert metric(at, "Calls") != calls_before
    assert set(at.dataframe[0].value["model"]) == {pick}


def test_user_and_period_filters_change_the_charted_data(console, seeded):
    at = console(PAGE, user="alice")
    multiselect(at, "Users").set_value(["carol"]).run()
    assert {x for t in traces(at, "Spend by user (USD)") for x in t["x"]} == {"carol"}
    today = datetime.now(UTC).date()
    at.date_input(key="usage_period").set_value((today - timedelta(days=2), today)).run()
    assert not at.exception
    days = {date.fromisoformat(x[:10]) for t in traces(at, "Spend per day by model (USD)") for x in t["x"]}
    assert days and days <= {today - timedelta(days=d) for d in range(3)}


def test_what_if_reprices_on_another_model(console, seeded):
    at = console(PAGE, user="alice")
    at.selectbox(key="wi_model").set_value("claude-opus-5-5").run()
    assert not at.exception
    recorded, repriced = metric(at, "As recorded"), metric(at, "Re-priced")
    assert recorded == metric(at, "Spend")  # every billed call of the range, as recorded
    assert repriced != recorded
    table = at.dataframe[1].value
    assert set(table["priced_as"]) == {"claude-opus-5-5"}
    at.radio(key="wi_how").set_value("Another tier mapping").run()
    at.selectbox(key="wi_tier_simple").set_value("claude-opus-5-5").run()
    assert not at.exception
    table = at.dataframe[1].value.set_index("model")["priced_as"]
    assert table["claude-haiku-5-5"] == "claude-opus-5-5"
    assert all(table[m] == m for m in table.index if m != "claude-haiku-5-5")


def test_empty_ledger_points_admins_to_demo_data(console):
    at = console(PAGE, user="alice")
    assert any("demo" in i.value.lower() for i in at.info)
    at = console(PAGE, user="bob")
    assert any("Playground" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def part_table(at) -> dict[str, tuple[str, str]]:
    """The Spend by token type table: token type -> (spend, share) as shown."""
    df = at.table[0].value
    return {name: (row["Spend"], row["Share"]) for name, row in df.iterrows()}


def test_spend_is_broken_down_by_token_type(console, seeded):
    from core.money import usd

    at = console(PAGE, user="alice")
    table = part_table(at)
    assert list(table) == ["Input", "Output", "Cache writes", "Cache reads", "Server tools"]  # all split: no "Not split"
    lo = datetime.combine(datetime.now(UTC).date() - timedelta(days=29), datetime.min.time())
    engine = make_engine(os.environ["TOLLGATE_LEDGER_URL"])
    try:
        with engine.connect() as conn:
            searches, tools = conn.execute(sa.text(
                "SELECT sum(web_search_requests), sum(cost_server_tools_usd) FROM calls WHERE ts >= :lo"),
                {"lo": lo}).one()
    finally:
        engine.dispose()
    assert searches > 0 and table["Server tools"][0] == usd(tools)  # $0.01 a search, stored per call
    chart = traces(at, "Spend per day by token type (USD)")
    assert {t["name"] for t in chart} == set(table)
    assert sum(float(share.rstrip(" %")) for _, share in table.values()) == pytest.approx(100, abs=0.3)


def test_rows_recorded_before_schema_6_show_as_not_split(console, seeded):
    engine = make_engine(os.environ["TOLLGATE_LEDGER_URL"])
    try:
        with engine.begin() as conn:  # as version 5 left a billed row: no split
            conn.execute(sa.text("UPDATE calls SET cost_input_usd = NULL, cost_output_usd = NULL, "
                                 "cost_cache_write_5m_usd = NULL, cost_cache_write_1h_usd = NULL, "
                                 "cost_cache_read_usd = NULL, cost_server_tools_usd = NULL WHERE user_id = 'bob'"))
    finally:
        engine.dispose()
    at = console(PAGE, user="bob")
    assert not at.exception
    table = part_table(at)
    assert list(table) == ["Input", "Output", "Cache writes", "Cache reads", "Server tools",
                           "Not split (recorded before schema 6)"]
    assert table["Not split (recorded before schema 6)"][1] == "100.0 %" and table["Input"][0] == "$0.00"
