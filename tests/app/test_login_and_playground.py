"""Login gates every page; the playground's calls are priced before and after and land in the ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from core.accounts.users import UserStore
from core.simulator.replies import make_reply
from pages import widgets

PAGES = ["pages/playground.py", "pages/models.py", "pages/usage.py", "pages/health.py", "pages/checklist.py",
         "pages/admin.py"]


def ledger_rows(user: str) -> list[dict]:
    """The rows the console's own client wrote for ``user`` (the same cached client the pages use)."""
    c = widgets.client()
    c.recorder.flush()
    with c.ledger.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            text("SELECT * FROM calls WHERE user_id = :u ORDER BY ts"), {"u": user})]


def test_an_anonymous_visitor_sees_only_the_login(anonymous):
    at = anonymous()
    assert [t.value for t in at.title] == ["Tollgate"]
    assert [b.label for b in at.button] == ["Login"]
    assert not at.chat_input and not at.metric and not at.dataframe and not at.sidebar.markdown


@pytest.mark.parametrize("page", PAGES)
def test_every_page_refuses_an_anonymous_visitor_even_when_run_directly(anonymous, page):
    at = anonymous()
    at.switch_page(page).run()  # AppTest runs the page file itself, past the router's login
    assert not at.exception, at.exception
    assert any("Log in" in w.value for w in at.warning) or [t.value for t in at.title] == ["Tollgate"]
    assert not at.chat_input and not at.metric and not at.dataframe and not at.get("plotly_chart")


def test_logging_in_with_the_form_opens_the_playground(anonymous):
    at = anonymous()
    at.text_input[0].input("bob")
    at.text_input[1].input("correct-horse-battery")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Playground"
    assert any("`bob` · analyst" in m.value for m in at.sidebar.markdown)
    assert {m.label for m in at.sidebar.metric} == {"Spent this month", "Budget left"}
    assert any("Demo mode" in i.value for i in at.sidebar.info)


def test_a_wrong_password_is_refused(anonymous):
    at = anonymous()
    at.text_input[0].input("bob")
    at.text_input[1].input("not-the-password")
    at.button[0].click().run()
    assert [t.value for t in at.title] == ["Tollgate"]
    assert any("Wrong username or password" in e.value for e in at.error)


def test_demo_accounts_are_offered_only_in_demo_mode_with_no_users_file(demo_env):
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import APP

    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("tollgate-demo" in i.value for i in at.info)
    assert sorted(UserStore(demo_env / "users.yaml").demo_accounts()) == ["admin", "analyst"]


@pytest.mark.parametrize("user", ["alice", "bob"])
@pytest.mark.parametrize("page", ["pages/playground.py", "pages/models.py"])
def test_pages_render_for_admin_and_analyst(console, user, page):
    at = console(page, user=user)
    assert at.title[0].value in {"Playground", "Models & prices"}


def test_a_chat_prompt_is_quoted_then_sent_and_recorded_once_with_the_user_and_cost(console):
    at = console(user="bob")
    at.chat_input[0].set_value("What is a token bucket?").run()
    quote = " ".join(c.value for c in at.caption)
    assert "input tokens" in quote and "up to $" in quote and "no budget set" in quote
    assert ledger_rows("bob") == []  # quoting costs nothing and records nothing
    at.button(key="pg_send").click().run()
    assert not at.exception, at.exception
    rows = ledger_rows("bob")
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["source"] == "demo"
    row = rows[0]
    cost = Decimal(str(row["cost_usd"]))
    assert cost > 0
    caption = [c.value for c in at.caption if "request" in c.value][0]
    assert widgets.usd(cost) in caption and row["request_id"] in caption
    expected = make_reply("claude-sonnet-5-5", None, [{"role": "user", "content": "What is a token bucket?"}],
                          1024).text  # the simulator's deterministic answer to this request
    assert at.chat_message[-1].markdown[0].value == expected
    assert row["output_tokens"] == len(expected.split())
    assert ledger_rows("alice") == []


def test_without_preview_the_prompt_is_sent_at_once_and_streamed(console):
    at = console(user="carol")
    at.toggle(key="pg_preview").set_value(False).run()
    at.chat_input[0].set_value("Explain prompt caching in one line").run()
    assert not at.exception, at.exception
    assert len(ledger_rows("carol")) == 1
    assert any(m.value and "Explain prompt caching" not in m.value for m in at.chat_message[1].markdown)


def test_a_call_that_does_not_fit_the_budget_cannot_be_sent_and_says_what_is_left(console):
    at = console(user="bob")
    widgets.client().budgets.set_budget("bob", "0.000001")
    at.chat_input[0].set_value("Write a long essay about budgets").run()
    assert "does NOT fit" in " ".join(c.value for c in at.caption)
    assert at.button(key="pg_send").disabled
    at.toggle(key="pg_preview").set_value(False).run()
    at.chat_input[0].set_value("Write a long essay about budgets").run()
    assert not at.exception, at.exception
    shown = " ".join(e.value for e in at.error)
    assert "budget" in shown.lower() and "left this month" in shown and "Traceback" not in shown
    assert [r["status"] for r in ledger_rows("bob")] == ["blocked"]


def test_model_output_is_markdown_with_html_disabled(console):
    at = console(user="bob")
    at.toggle(key="pg_preview").set_value(False).run()
    at.chat_input[0].set_value("Hello").run()
    answer = at.chat_message[1].markdown[0]
    assert answer.proto.allow_html is False


def test_compare_mode_sends_one_prompt_to_each_model_side_by_side(console):
    at = console(user="bob")
    at.segmented_control(key="pg_mode").set_value("Compare").run()
    at.multiselect(key="pg_compare_models").set_value(["claude-haiku-5-5", "claude-sonnet-5-5"]).run()
    at.text_area(key="pg_compare_prompt").input("Name three prime numbers").run()
    assert sum("input tokens" in c.value for c in at.caption) == 2  # a quote per model before sending
    at.button(key="pg_compare").click().run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == ["claude-haiku-5-5", "claude-sonnet-5-5"]
    rows = ledger_rows("bob")
    assert sorted(r["model"] for r in rows) == ["claude-haiku-5-5", "claude-sonnet-5-5"]
    costs = {m.value for m in at.metric if m.label == "Cost"}
    assert len(costs) == 2  # different prices for the same prompt


def test_the_conversation_can_be_exported(console):
    at = console(user="bob")
    at.toggle(key="pg_preview").set_value(False).run()
    at.chat_input[0].set_value("First question").run()
    labels = {b.proto.label for b in at.get("download_button")}
    assert {"Export Markdown", "Export JSON"} <= labels


def test_analysts_do_not_get_the_admin_page(console):
    at = console(user="bob")
    with pytest.raises(ValueError, match="admin"):
        at.switch_page("pages/admin.py")  # not registered in the analyst's navigation


def test_an_admin_adds_an_account_and_sets_a_budget(console):
    at = console("pages/admin.py", user="alice")
    assert at.title[0].value == "Users & budgets"
    form = at.get("form")
    assert form
    inputs = {t.label: t for t in at.text_input}
    inputs["Username"].input("dave")
    inputs["Full name"].input("Dave Analyst")
    inputs["Initial password"].input("a-long-enough-password")
    next(b for b in at.button if b.label == "Add").click().run()
    assert not at.exception, at.exception
    assert UserStore(widgets.settings().users_file).principal("dave").role == "analyst"
    inputs = {t.label: t for t in at.text_input}
    inputs["USD per month"].input("25")
    next(b for b in at.button if b.label == "Set").click().run()
    assert not at.exception, at.exception
    assert widgets.client().budgets.get_budget("*") == Decimal("25")


def test_the_models_calculator_lists_every_priced_model_cheapest_first(console):
    at = console("pages/models.py", user="bob")
    table = at.dataframe[-1].value
    costs = [Decimal(str(v)) for v in table["cost_usd"]]
    retired = {m for m, i in widgets.client().catalogue.models.items() if i.status == "retired"}
    assert costs == sorted(costs) and len(table) == len(set(widgets.client().pricing.models()) - retired)
    before = list(table["cost_usd"])
    at.number_input[1].set_value(50_000).run()
    assert list(at.dataframe[-1].value["cost_usd"]) != before


def test_an_admin_fills_and_removes_demo_data_without_touching_real_calls(console):
    at = console(user="bob")
    at.toggle(key="pg_preview").set_value(False).run()
    at.chat_input[0].set_value("A real call").run()
    at = console("pages/admin.py", user="alice")
    at.button(key="demo_fill").click().run()
    assert not at.exception, at.exception
    c = widgets.client()
    with c.ledger.engine.connect() as conn:
        by_source = dict(conn.execute(text("SELECT source, count(*) FROM calls GROUP BY source")).all())
    assert by_source["demo"] == 1 and by_source["demo-data"] > 1000
    assert any(f"Added {by_source['demo-data']:,} demo calls" in s.value for s in at.success)
    at.button(key="demo_remove").click().run()
    with c.ledger.engine.connect() as conn:
        by_source = dict(conn.execute(text("SELECT source, count(*) FROM calls GROUP BY source")).all())
    assert by_source == {"demo": 1}


def test_production_with_the_example_cookie_key_refuses_to_start(users, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.accounts.users import EXAMPLE_COOKIE_KEY
    from tests.app.conftest import APP

    monkeypatch.setenv("TOLLGATE_ENVIRONMENT", "production")
    monkeypatch.setenv("TOLLGATE_COOKIE_KEY", EXAMPLE_COOKIE_KEY)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("TOLLGATE_COOKIE_KEY" in e.value for e in at.error)
    assert not at.button and not at.text_input and EXAMPLE_COOKIE_KEY not in " ".join(e.value for e in at.error)


def test_five_wrong_passwords_lock_the_account_and_not_the_others(anonymous):
    at = anonymous()
    for attempt in range(1, 6):
        at.text_input[0].input("bob")
        at.text_input[1].input("a-wrong-guess")
        at.button[0].click().run()
        shown = [e.value for e in at.error]
        assert len(shown) == 1  # one message: the fifth wrong password says "locked", not also "wrong"
        assert ("locked after 5 wrong passwords" if attempt == 5 else "Wrong username or password") in shown[0]
    at.text_input[0].input("bob")
    at.text_input[1].input("correct-horse-battery")
    at.button[0].click().run()
    assert [t.value for t in at.title] == ["Tollgate"]
    assert [e.value for e in at.error] == [next(e.value for e in at.error if "locked after 5" in e.value)]
    other = anonymous()
    other.text_input[0].input("carol")
    other.text_input[1].input("correct-horse-battery")
    other.button[0].click().run()
    assert other.title[0].value == "Playground"
