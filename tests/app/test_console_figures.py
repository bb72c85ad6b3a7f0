"""The console as a newcomer meets it: current models first, figures that are fresh, money and time that read right."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.catalog.models import default_catalogue
from core.ledger.engine import make_engine
from core.reports import demo_data
from pages import widgets
from tests.app.test_login_and_playground import ledger_rows

RETIRED = {m for m, i in default_catalogue().models.items() if i.status == "retired"}
CURRENT = {m for m, i in default_catalogue().models.items() if i.status == "current"}


def selectbox(at, label):
    return next(s for s in at.selectbox if s.label == label)


def model_ids(widget) -> set[str]:
    """A model picker's options as ids (its labels read 'id · tier · prices')."""
    return {o.split(" · ")[0] for o in widget.options}


def sidebar_metric(at, label):
    return next(m.value for m in at.sidebar.metric if m.label == label)


@pytest.fixture
def seeded(demo_env):
    engine = make_engine(os.environ["TOLLGATE_LEDGER_URL"])
    n = demo_data.generate(engine, days=21, now=datetime.now(UTC), seed=7)
    engine.dispose()
    return n


# --- models ---------------------------------------------------------------------------

def test_the_model_picker_offers_current_models_legacy_behind_a_toggle_and_never_retired(console):
    at = console(user="bob")
    offered = model_ids(selectbox(at, "Model"))
    assert offered and offered <= CURRENT and not offered & RETIRED
    assert selectbox(at, "Model").value == "claude-sonnet-5-5"
    at.toggle(key="pg_legacy").set_value(True).run()
    with_legacy = model_ids(selectbox(at, "Model"))
    assert with_legacy > offered and "claude-opus-5" in with_legacy and not with_legacy & RETIRED


def test_compare_starts_with_current_models_of_different_tiers(console):
    at = console(user="bob")
    at.segmented_control(key="pg_mode").set_value("Compare").run()
    picked = at.multiselect(key="pg_compare_models").value
    tiers = default_catalogue().tiers
    assert len(picked) == 2 and set(picked) <= CURRENT
    assert len({t for t, m in tiers.items() if m in picked}) == 2  # two different tiers
    assert not model_ids(at.multiselect(key="pg_compare_models")) & RETIRED
    at.text_area(key="pg_compare_prompt").input("Name three prime numbers").run()
    at.button(key="pg_compare").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert sorted(r["status"] for r in ledger_rows("bob")) == ["ok", "ok"]


def test_the_models_page_shows_each_status_and_the_calculator_leaves_out_retired(console):
    at = console("pages/models.py", user="bob")
    sheet = at.dataframe[0].value
    assert {"current", "legacy", "retired"} <= set(sheet["status"])
    assert set(sheet[sheet["model"] == "claude-3-haiku-20240307"]["status"]) == {"retired"}
    calc = at.dataframe[-1].value
    assert not set(calc["model"]) & RETIRED and len(calc) == len(set(widgets.client().pricing.models()) - RETIRED)
    assert calc["cost"].iloc[0].startswith("$") and "e" not in calc["cost"].iloc[0]
    costs = [Decimal(v) for v in calc["cost_usd"]]
    assert costs == sorted(costs)


# --- figures and forms ----------------------------------------------------------------

def test_the_sidebar_shows_no_spend_as_plain_dollars(console):
    # That the sidebar counts the call just made is a browser test (tests/e2e): AppTest re-runs
    # only the page after its first run, never app.py's sidebar.
    at = console(user="bob")
    assert sidebar_metric(at, "Spent this month") == "$0.00"  # not $0.000000


def test_after_a_demo_fill_the_budgets_table_shows_the_demo_budgets(console):
    at = console("pages/admin.py", user="alice")
    assert at.dataframe[1].value.empty  # budgets: none yet
    at.button(key="demo_fill").click().run()
    assert not at.exception, at.exception
    assert any("demo calls" in s.value for s in at.success)
    board = at.dataframe[1].value
    assert set(board["user_id"]) >= set(demo_data.DEMO_BUDGETS)


def test_a_budget_in_exponent_form_reads_as_dollars_and_past_the_cap_is_refused(console):
    at = console("pages/admin.py", user="alice")
    next(t for t in at.text_input if t.label == "USD per month").input("1e6")
    next(b for b in at.button if b.label == "Set").click().run()
    assert not at.exception, at.exception
    assert widgets.client().budgets.get_budget("*") == Decimal("1E+6")
    shown = " ".join(t.value for t in at.toast)
    assert "$1,000,000.00" in shown and "1e6" not in shown and "E+" not in shown
    next(t for t in at.text_input if t.label == "USD per month").input("1e9")
    next(b for b in at.button if b.label == "Set").click().run()
    assert not at.exception, at.exception
    assert widgets.client().budgets.get_budget("*") == Decimal("1E+6")  # refused: the cap is $1,000,000
    said = " ".join(e.value for e in at.error)
    assert "1,000,000" in said and "E+" not in said, said


def test_expensive_calls_carry_their_time_zone_and_plain_money(console, seeded):
    at = console("pages/usage.py", user="alice")
    selectbox(at, "Time zone").set_value("Asia/Tokyo").run()
    table = next(d for d in at.dataframe if "ts" in d.value.columns and "request_id" in d.value.columns)
    config = json.loads(table.proto.columns)
    assert config["ts"]["label"] == "time (Asia/Tokyo)"
    assert all(v.startswith("$") for v in table.value["cost_usd"])


def test_changing_the_time_zone_moves_the_period_to_that_zones_today(console, seeded):
    at = console("pages/usage.py", user="alice")
    now = datetime.now(UTC)
    for tz in ("Asia/Tokyo", "America/Los_Angeles", "Australia/Sydney", "UTC"):
        selectbox(at, "Time zone").set_value(tz).run()
        assert not at.exception, at.exception
        today = now.astimezone(ZoneInfo(tz)).date()
        since, until = next(d for d in at.date_input if d.label == "Period").value
        assert (since, until) == (today - timedelta(days=29), today), tz


def test_demo_data_reaches_today_so_the_month_has_spend_on_its_first_day(console, seeded):
    at = console("pages/usage.py", user="alice")
    chart = next(el for el in at.get("plotly_chart")
                 if json.loads(el.proto.spec)["layout"]["title"]["text"].startswith("Spend per day"))
    days = {x[:10] for t in json.loads(chart.proto.spec)["data"] for x in t["x"]}
    assert max(days) == datetime.now(UTC).date().isoformat()


def test_charts_have_a_legend_below_no_toolbar_and_human_axis_labels(console, seeded):
    at = console("pages/usage.py", user="alice")
    charts = at.get("plotly_chart")
    assert len(charts) >= 4
    raw = {"spend_usd", "day", "user", "value", "variable", "error_code", "calls", "input_tokens"}
    for el in charts:
        fig, config = json.loads(el.proto.spec), json.loads(el.proto.config)
        title = fig["layout"]["title"]["text"]
        assert config.get("displayModeBar") is False, title
        legend = fig["layout"].get("legend", {})
        assert legend.get("orientation") == "h" and legend.get("y", 1) < 0, title
        for axis in ("xaxis", "yaxis"):
            label = (fig["layout"].get(axis, {}).get("title") or {}).get("text") or ""
            assert label not in raw and "_" not in label, (title, axis, label)
        assert not any("_" in (t.get("name") or "") for t in fig["data"]), title


def test_a_refused_long_prompt_is_not_echoed_in_full(console):
    at = console(user="bob")
    at.toggle(key="pg_preview").set_value(False).run()
    prompt = "x" * 480_000
    at.chat_input[0].set_value(prompt).run()
    assert not at.exception, at.exception
    assert ledger_rows("bob") == [] or all(r["status"] == "blocked" for r in ledger_rows("bob"))
    texts = [str(e.value) for kind in (at.markdown, at.text, at.error, at.warning, at.caption) for e in kind]
    assert max(len(t) for t in texts) < 1_000
    assert ("x" * 80 + "… (480,000 characters)") in texts  # the echo: its start and its length
    at.run()  # the refused turn stays short on the next run too
    assert max(len(str(e.value)) for kind in (at.markdown, at.text) for e in kind) < 1_000


def test_a_long_pending_prompt_shows_its_length(console):
    at = console(user="bob")
    at.chat_input[0].set_value("y" * 480_000).run()
    assert not at.exception, at.exception
    assert ("y" * 500 + "… (480,000 characters)") in [t.value for t in at.text]


def test_the_checklist_in_demo_mode_says_calls_go_to_the_simulator(console):
    at = console("pages/checklist.py", user="alice")
    text = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.text]) + " ".join(
        str(d.value.to_dict()) for d in at.dataframe)
    assert "simulator" in text
    assert "calls go straight to https://api.anthropic.com" not in text


def test_recent_errors_on_health_name_their_time_zone(console, demo_env):
    import uuid

    from core.ledger.migrations import migrate
    from core.ledger.schema import calls

    engine = make_engine(os.environ["TOLLGATE_LEDGER_URL"])
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(calls.insert(), [{"id": str(uuid.uuid4()), "ts": datetime.now(UTC).replace(tzinfo=None),
                                       "user_id": "alice", "model": "claude-haiku-5-5", "status": "error",
                                       "error_code": "overloaded", "source": "console"}])
    engine.dispose()
    at = console("pages/health.py", user="alice")
    table = next(d for d in at.dataframe if "error_code" in d.value.columns)
    assert json.loads(table.proto.columns)["ts"]["label"] == "time (UTC)"
