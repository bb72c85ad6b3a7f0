"""Demo data on every backend: exact prices, the expected mix, and removal that spares real rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.budgets.book import BudgetBook
from core.catalog import pricing
from core.clock import FakeClock
from core.ledger import records
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from core.ledger.schema import calls
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.reports import demo_data
from core.types import CallRecord, Usage
from tests.integration.test_ledger import BACKENDS

NOW = datetime(2026, 11, 22, 15, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    url = {"duckdb_file": f"duckdb:///{tmp_path / 'l.duckdb'}", "duckdb_memory": "duckdb:///:memory:"}.get(
        request.param) or request.getfixturevalue("pg_url")
    eng = make_engine(url)
    migrate(eng)
    yield eng
    eng.dispose()


def real_rows(engine, tmp_path) -> list[str]:
    """Three real calls (library, console, and demo-mode "demo") and a real budget."""
    ledger = Ledger(engine, Spool(tmp_path / "l.spool"), clock=FakeClock())
    ids = []
    for source in ("library", "console", "demo"):
        rec = CallRecord(id=str(uuid.uuid4()), ts=NOW - timedelta(days=2), user="alice", model="claude-sonnet-5-5",
                         status="ok", usage=Usage(100, 50), cost_usd=Decimal("0.001"), source=source)
        ledger.record(rec)
        ids.append(rec.id)
    BudgetBook(engine, clock=FakeClock()).set_budget("bob", Decimal("12"), by="admin")
    return ids


def test_generate_prices_every_call_exactly_with_the_price_table(engine):
    n = demo_data.generate(engine, days=21, now=NOW, seed=3)
    table = pricing.default_price_table()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(calls).where(calls.c.source == demo_data.SOURCE)).mappings().all()
    assert len(rows) == n > 21 * 20
    priced = [r for r in rows if r["price_version"] is not None and r["status"] in ("ok", "error")]
    assert len(priced) > 0.9 * n
    for r in priced:
        rec = records.from_row(r)
        want = table.price(rec.usage, r["model"], r["ts"])
        assert (rec.cost_usd, r["price_version"]) == (want.cost, want.price_version)
        assert rec.cost_parts == want.parts  # the split by part, stored as priced
    assert any(r["web_search_requests"] for r in priced) and any(r["cost_server_tools_usd"] for r in priced)
    assert {r["status"] for r in rows} == {"ok", "error", "cached", "blocked"}
    assert len({r["user_id"] for r in rows}) >= 5 and len({r["model"] for r in rows}) >= 4
    assert any(r["cache_read_tokens"] for r in rows) and any(r["cache_creation_5m_tokens"] for r in rows)
    assert {r["error_code"] for r in rows if r["status"] == "error"} <= set(demo_data.ERROR_CODES)
    assert all(r["ttft_ms"] is not None for r in rows if r["status"] == "ok")
    assert all(r["cost_usd"] == 0 for r in rows if r["status"] in ("cached", "blocked"))
    assert all(NOW - timedelta(days=22) <= r["ts"].replace(tzinfo=UTC) < NOW for r in rows)
    weekday = sum(r["ts"].weekday() < 5 for r in rows) / 15  # 21 days: 15 weekdays, 6 weekend days
    weekend = sum(r["ts"].weekday() >= 5 for r in rows) / 6
    assert weekend < weekday / 2


def test_remove_deletes_only_demo_data_and_generating_twice_replaces(engine, tmp_path):
    real = real_rows(engine, tmp_path)
    first = demo_data.generate(engine, days=7, now=NOW, seed=1)
    assert demo_data.generate(engine, days=7, now=NOW, seed=1) == first
    assert demo_data.count(engine) == first  # replaced, not doubled
    more = demo_data.generate(engine, days=7, now=NOW, seed=2, replace=False)
    assert demo_data.count(engine) == first + more
    with engine.connect() as conn:
        demo_budgets = conn.execute(sa.text("SELECT user_id, updated_by FROM budgets ORDER BY user_id")).all()
    assert ("bob", "admin") in demo_budgets  # a real budget is never overwritten
    assert {u for u, by in demo_budgets if by == demo_data.SOURCE} == {"*", "carol"}
    assert demo_data.remove(engine) == first + more
    with engine.connect() as conn:
        left = sorted(conn.execute(sa.select(calls.c.id)).scalars())
        budgets = conn.execute(sa.text("SELECT user_id, updated_by FROM budgets")).all()
    assert left == sorted(real)
    assert budgets == [("bob", "admin")]
    assert demo_data.remove(engine) == 0


def test_cli_fills_and_removes_and_explains_a_locked_file(tmp_path, monkeypatch, capsys):
    import subprocess
    import sys

    from core.cli.main import main

    db = tmp_path / "cli.duckdb"
    monkeypatch.setenv("TOLLGATE_LEDGER_URL", f"duckdb:///{db}")
    monkeypatch.setenv("TOLLGATE_SPOOL_PATH", str(tmp_path / "spool" / "l.spool"))
    assert main(["demo-data", "--days", "5"]) == 0
    added = int(capsys.readouterr().out.split()[1].replace(",", ""))
    engine = make_engine(f"duckdb:///{db}")
    assert demo_data.count(engine) == added > 0
    engine.dispose()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); sys.stdin.read()", str(db)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(["demo-data", "--remove"]) == 2
        assert "in use by another process" in capsys.readouterr().err
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert main(["demo-data", "--remove"]) == 0
    assert f"Removed {added:,} demo calls" in capsys.readouterr().out
