"""User ids are plain text on the Usage & cost page: in the charts (Plotly renders some HTML) and budget bars."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from markdown_it import MarkdownIt

from core.budgets.book import BudgetBook
from core.clock import FakeClock
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.types import CallRecord, Usage

LINKED = '<a href="https://evil.example/phish">Payroll</a>'
MARKDOWN = "[boss](https://evil.example/x) ![i](https://evil.example/i.png) **big**"


def _seed(demo_env) -> None:
    engine = make_engine(os.environ["TOLLGATE_LEDGER_URL"])
    migrate(engine)
    ledger = Ledger(engine, Spool(demo_env / "seed.spool"), clock=FakeClock())
    for user in (LINKED, MARKDOWN, "bob"):
        ledger.record(CallRecord(id=str(uuid.uuid4()), ts=datetime.now(UTC), user=user, model="claude-haiku-5-5",
                                 status="ok", usage=Usage(1000, 500), cost_usd=Decimal("0.25"), source="library"))
        BudgetBook(engine, clock=FakeClock()).set_budget(user, "10", by="alice")
    engine.dispose()


def test_user_ids_render_as_text_in_charts(console, demo_env):
    _seed(demo_env)
    at = console("pages/usage.py", user="alice")
    assert not at.exception, at.exception
    figs = {json.loads(el.proto.spec)["layout"]["title"]["text"]: json.loads(el.proto.spec)
            for el in at.get("plotly_chart")}
    by_user = figs["Spend by user (USD)"]
    labels = [x for trace in by_user["data"] for x in trace["x"]]
    assert sorted(labels) == sorted(["&lt;a href=\"https://evil.example/phish\"&gt;Payroll&lt;/a&gt;", MARKDOWN, "bob"])
    every = json.dumps(list(figs.values()))
    assert "<a " not in every and "<a\\u0020" not in every  # no label anywhere can become a link


def test_user_ids_render_as_text_in_budget_bars(console, demo_env):
    _seed(demo_env)
    at = console("pages/usage.py", user="alice")
    assert not at.exception, at.exception
    bars = [p.proto.text for p in at.get("progress")]
    assert len(bars) == 3
    for text in bars:
        page = MarkdownIt("commonmark").render(text)
        assert "<a " not in page and "<img" not in page, page
        assert page.count("<strong>") == 2, page  # only the page's own bold: the user id and the alert
