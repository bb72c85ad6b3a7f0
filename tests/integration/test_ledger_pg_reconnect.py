"""PostgreSQL connections cut under the ledger (as a server restart does): no round trip per checkout while the
pool is busy, and still no record lost: an idle connection is pinged and replaced, a busy one's write spooled."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.ledger import engine as engine_mod
from core.ledger.engine import make_engine
from core.ledger.schema import calls
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from tests.conftest import PG_URL
from tests.integration.test_ledger import make_record

pytestmark = pytest.mark.postgres
APP = "tollgate-reconnect-test"


def _cut() -> int:
    """Terminate every server process serving this test's connections; how many."""
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        n = c.execute(sa.text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name = :a"), {"a": APP}).scalar()
    admin.dispose()
    return int(n)


@pytest.fixture
def ledger(pg_url, tmp_path):
    engine = make_engine(f"{pg_url}&application_name={APP}")
    led = Ledger(engine, Spool(tmp_path / "spool" / "ledger.spool"), clock=FakeClock())
    assert led.open()
    yield led
    led.close()
    engine.dispose()



def test_a_busy_pool_pays_no_ping_and_an_idle_cut_connection_is_replaced(ledger, monkeypatch):
    pings, ping = [], ledger.engine.dialect.do_ping
    monkeypatch.setattr(ledger.engine.dialect, "do_ping", lambda dbapi: pings.append(1) or ping(dbapi))
    for _ in range(5):
        ledger.record(make_record())
    assert pings == []  # a connection in steady use: no round trip before each statement
    monkeypatch.setattr(engine_mod, "PING_IDLE_S", 0.05)
    assert _cut() >= 1
    time.sleep(0.1)  # idle past the ping threshold: the checkout finds the cut and reconnects
    rec = make_record()
    ledger.record(rec)
    assert pings == [1] and ledger.spool.pending() == 0 and ledger.get(rec.id) is not None


def test_a_connection_cut_while_busy_spools_its_write_and_nothing_is_lost(ledger):
    ledger.record(make_record())
    assert _cut() >= 1
    rec = make_record()
    ledger.record(rec)  # the statement meets the cut: spooled, not lost
    assert ledger.open()  # the pool was dropped: the next connection is new, the spool replayed
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(calls).where(calls.c.id == rec.id)).scalar() == 1
    assert ledger.spool.pending() == 0
