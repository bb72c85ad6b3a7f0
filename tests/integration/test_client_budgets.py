"""Budgets through the whole client: 200 concurrent calls never take recorded spend past the budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import errors

ROOT = Path(__file__).resolve().parents[2]
BUDGET = Decimal("0.0100")
# Opus 5.5 at 200 max tokens: a worst case of about $0.004, a real cost of about $0.0012 a call.
CALL = dict(model="claude-opus-5-5", max_tokens=200)


def _spent(url: str, user: str) -> tuple[Decimal, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        total, n = conn.execute(sa.text("SELECT COALESCE(SUM(cost_usd), 0), COUNT(*) FROM calls "
                                        "WHERE user_id = :u AND status = 'ok'"), {"u": user}).one()
    engine.dispose()
    return Decimal(str(total)), n


def _burst(client, n: int) -> tuple[int, int]:
    def one(i):
        try:
            client.create(f"Budgeted question {i}", user="ana", **CALL)
            return "ok"
        except errors.BudgetExceeded as err:
            assert err.remaining_usd >= 0 and err.needed_usd > err.remaining_usd
            return "refused"
    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(one, range(n)))
    return outcomes.count("ok"), outcomes.count("refused")


def test_200_concurrent_calls_one_process_duckdb(make_client, fresh_sim, tmp_path):
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    client = make_client(real_time=True, ledger_url=url, spool_path=str(tmp_path / "spool"), cache="off",
                         concurrency=None, user_concurrency=None)
    client.ledger.open()
    client.budgets.set_budget("ana", BUDGET)
    ok, refused = _burst(client, 200)
    client.recorder.flush()
    client.ledger.engine.dispose()
    spent, rows = _spent(url, "ana")
    assert ok >= 2 and refused > 0 and ok + refused == 200
    assert rows == ok
    assert spent <= BUDGET, f"spent {spent} of {BUDGET}"
    assert fresh_sim.stats()["messages_requests"] == ok  # refused calls never reached the API


WORKER = textwrap.dedent("""
    import json, sys
    from concurrent.futures import ThreadPoolExecutor
    from core.config import load_settings
    from core.factory import build_client
    from core import errors

    url, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = load_settings(env={}, load_keys=False, ledger_url=url, base_url=base, cache="off",
                             spool_path=sys.argv[4], concurrency=None, user_concurrency=None)
    with build_client(settings) as client:
        def one(i):
            try:
                client.create(f"multi-process question {i}", user="ana", model="claude-opus-5-5", max_tokens=200)
                return "ok"
            except errors.BudgetExceeded:
                return "refused"
        with ThreadPoolExecutor(16) as pool:
            out = list(pool.map(one, range(n)))
    print(json.dumps({"ok": out.count("ok"), "refused": out.count("refused")}))
""")


@pytest.mark.postgres
def test_200_concurrent_calls_four_processes_postgres(pg_url, fresh_sim, tmp_path):
    from core.budgets.book import BudgetBook
    from core.clock import SystemClock
    from core.ledger.engine import make_engine
    from core.ledger.migrations import migrate

    sim = fresh_sim
    engine = make_engine(pg_url)
    migrate(engine)
    BudgetBook(engine, clock=SystemClock()).set_budget("ana", BUDGET)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, pg_url, sim.url, "50", str(tmp_path / f"s{i}")],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    ok = sum(r["ok"] for r in results)
    refused = sum(r["refused"] for r in results)
    spent, rows = _spent(pg_url, "ana")
    assert ok + refused == 200 and ok >= 2 and refused > 0 and rows == ok
    assert spent <= BUDGET, f"spent {spent} of {BUDGET}"
