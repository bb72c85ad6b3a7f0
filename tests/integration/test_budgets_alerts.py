"""Budget alerts: once per user, threshold and month, even under concurrency; the webhook is posted."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from core.budgets.book import BudgetBook
from core.ledger.schema import calls
from tests.conftest import run_threads

D = Decimal


def record(engine, user: str, cost: Decimal, ts: datetime) -> None:
    """A settled call as the ledger writes it (no hold to drop here)."""
    with engine.begin() as c:
        c.execute(sa.insert(calls).values(id=str(uuid.uuid4()), ts=ts.astimezone(UTC).replace(tzinfo=None),
                                          user_id=user, model="claude-test", status="ok", cost_usd=cost))


class FakePoster:
    """The webhook boundary: remembers every post and answers a fixed status (or raises)."""

    def __init__(self, status=200, error: Exception | None = None) -> None:
        self.status, self.error, self.posts = status, error, []
        self._lock = threading.Lock()

    def __call__(self, url: str, body: dict):
        with self._lock:
            self.posts.append((url, body))
        if self.error is not None:
            raise self.error
        return self.status


HOOK = "http://hooks.invalid/budget"


def test_each_threshold_fires_once_a_month_and_is_posted(engine, clock):
    poster = FakePoster(status=204)
    book = BudgetBook(engine, clock=clock, webhook_url=HOOK, post=poster)
    book.set_budget("alice", D("10"))
    record(engine, "alice", D("4.99"), clock.now())
    assert book.check_alerts("alice") == []
    record(engine, "alice", D("3.01"), clock.now())  # 80.0 %: crosses 50 and 80 at once
    fired = book.check_alerts("alice")
    assert [(a.threshold_pct, a.spent_usd, a.webhook_status) for a in fired] == [
        (50, D("8"), "204"), (80, D("8"), "204")]
    assert [body for _, body in poster.posts] == [
        {"user": "alice", "month": "2026-11", "threshold_pct": pct, "spent_usd": str(fired[0].spent_usd),
         "budget_usd": str(fired[0].budget_usd)} for pct in (50, 80)]
    assert {url for url, _ in poster.posts} == {HOOK}
    assert D(poster.posts[0][1]["spent_usd"]) == D("8") and D(poster.posts[0][1]["budget_usd"]) == D("10")
    assert book.check_alerts("alice") == []
    record(engine, "alice", D("2.5"), clock.now())
    assert [a.threshold_pct for a in book.check_alerts("alice")] == [100]
    assert len(poster.posts) == 3
    frame = book.alerts("2026-11")
    assert list(frame.threshold_pct) == [50, 80, 100] and set(frame.webhook_status) == {"204"}
    clock.advance(timedelta(days=10).total_seconds())  # December: a new month alerts afresh
    record(engine, "alice", D("6"), clock.now())
    assert [(a.month, a.threshold_pct) for a in book.check_alerts("alice")] == [("2026-12", 50)]
    assert len(book.alerts()) == 4 and len(book.alerts("2026-12")) == 1


def test_without_a_webhook_the_alert_is_only_recorded(engine, clock):
    book = BudgetBook(engine, clock=clock, thresholds=(90,))
    book.set_budget("bob", D("1"))
    record(engine, "bob", D("0.95"), clock.now())
    (alert,) = book.check_alerts("bob")
    assert alert.webhook_status is None
    assert book.alerts().webhook_status.isna().all()


def test_a_failing_webhook_is_recorded_not_raised(engine, clock):
    poster = FakePoster(error=ConnectionError("refused"))
    book = BudgetBook(engine, clock=clock, thresholds=(50,), webhook_url=HOOK, post=poster)
    book.set_budget("bob", D("1"))
    record(engine, "bob", D("0.6"), clock.now())
    assert [a.webhook_status for a in book.check_alerts("bob")] == ["error: ConnectionError"]
    assert list(book.alerts().webhook_status) == ["error: ConnectionError"]
    assert book.check_alerts("bob") == [] and len(poster.posts) == 1


def test_the_organisation_budget_alerts_under_its_own_name(engine, clock):
    poster = FakePoster()
    book = BudgetBook(engine, clock=clock, webhook_url=HOOK, post=poster)
    book.set_budget("*", D("2"))
    record(engine, "alice", D("0.6"), clock.now())
    record(engine, "bob", D("0.5"), clock.now())
    fired = book.check_alerts("bob")
    assert [(a.user_id, a.threshold_pct, a.spent_usd) for a in fired] == [("*", 50, D("1.1"))]
    assert poster.posts[0][1]["user"] == "*"


# An in-memory DuckDB shares one connection, which cannot host concurrent transactions.
@pytest.mark.parametrize("engine", ["duckdb-file", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_concurrent_checks_alert_once_per_threshold(engine, clock):
    poster = FakePoster()
    book = BudgetBook(engine, clock=clock, webhook_url=HOOK, post=poster)
    book.set_budget("alice", D("1"))
    record(engine, "alice", D("1.2"), clock.now())
    results = []
    assert run_threads(lambda _: results.append(book.check_alerts("alice")), 16, timeout_s=30) == []
    assert sorted(a.threshold_pct for r in results for a in r) == [50, 80, 100]
    assert sorted(body["threshold_pct"] for _, body in poster.posts) == [50, 80, 100]
    assert len(book.alerts()) == 3


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(self.server.answer)
        self.end_headers()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def hook_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received, server.answer = [], 200
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("engine", ["duckdb-memory"], indirect=True)
def test_the_default_poster_reaches_a_real_http_server(engine, clock, hook_server):
    url = f"http://127.0.0.1:{hook_server.server_address[1]}/hooks/budget"
    book = BudgetBook(engine, clock=clock, thresholds=(50, 80), webhook_url=url)
    book.set_budget("alice", D("2"))
    record(engine, "alice", D("1.25"), clock.now())
    assert [a.webhook_status for a in book.check_alerts("alice")] == ["200"]
    path, ctype, body = hook_server.received[0]
    assert (path, ctype) == ("/hooks/budget", "application/json")
    assert body["user"] == "alice" and body["threshold_pct"] == 50 and body["month"] == "2026-11"
    assert D(body["spent_usd"]) == D("1.25") and D(body["budget_usd"]) == D("2")
    hook_server.answer = 500  # a server error is a status to record, not an exception
    record(engine, "alice", D("0.5"), clock.now())
    assert [a.webhook_status for a in book.check_alerts("alice")] == ["500"]
    assert len(hook_server.received) == 2


@pytest.mark.parametrize("engine", ["duckdb-memory"], indirect=True)
def test_the_default_poster_records_an_unreachable_webhook(engine, clock):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    book = BudgetBook(engine, clock=clock, thresholds=(50,), webhook_url=f"http://127.0.0.1:{port}/x")
    book.set_budget("alice", D("2"))
    record(engine, "alice", D("1.5"), clock.now())
    (alert,) = book.check_alerts("alice")
    assert alert.webhook_status == "error: URLError"
    assert list(book.alerts().threshold_pct) == [50]


@pytest.mark.parametrize("engine", ["duckdb-memory"], indirect=True)
def test_the_default_poster_refuses_a_non_http_webhook(engine, clock, tmp_path):
    target = tmp_path / "hook.txt"
    book = BudgetBook(engine, clock=clock, thresholds=(50,), webhook_url=f"file://{target}")
    book.set_budget("alice", D("2"))
    record(engine, "alice", D("1.5"), clock.now())
    assert [a.webhook_status for a in book.check_alerts("alice")] == ["error: ValueError"]
    assert not target.exists()


def test_a_hold_that_cannot_cross_a_threshold_needs_no_alert_check(engine, clock):
    book = BudgetBook(engine, clock=clock)  # holds in the database (PostgreSQL's way; no DuckDB tally here)
    book.set_budget("alice", D("10"))
    book.set_budget("*", D("100"))
    record(engine, "alice", D("4"), clock.now())
    small = book.reserve("alice", "c-small", D("0.5"))  # at most 4.5 of 10 once settled: under 50 %
    assert not book.alert_may_fire(small)
    big = book.reserve("alice", "c-big", D("1"))  # 4 + 0.5 held + 1: may reach 50 %
    assert book.alert_may_fire(big)
    record(engine, "alice", D("1.5"), clock.now())
    assert [a.threshold_pct for a in book.check_alerts("alice")] == [50]
    book.release("c-big")
    book.release("c-small")
    assert not book.alert_may_fire(book.reserve("alice", "c-next", D("0.1")))  # 50 % known recorded
    assert book.alert_may_fire(None) and book.alert_may_fire("batch:prefix:")  # no bounds: always checked
