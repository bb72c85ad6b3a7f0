"""Schema 3 → 4 on a ledger that holds rows: the login lock-out table appears, nothing else changes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.accounts.lockout import SqlAttempts
from core.clock import FakeClock
from core.ledger.migrations import current_version, migrate
from tests.integration.conftest import LEDGER_BACKENDS, ledger_at, tables


@pytest.fixture(params=LEDGER_BACKENDS)
def v3_ledger(request, tmp_path):
    engine = ledger_at(request, tmp_path, 3)
    yield engine
    engine.dispose()


def test_upgrade_adds_the_login_table_and_keeps_rows(v3_ledger):
    with v3_ledger.connect() as conn:
        before = tables(conn)
        assert current_version(conn) == 3 and "login_attempts" not in before
    assert migrate(v3_ledger, target=4) == 4
    with v3_ledger.connect() as conn:
        assert tables(conn) == before | {"login_attempts"}
        assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 10
    attempts = SqlAttempts(v3_ledger)
    now = FakeClock().now().timestamp()
    assert [attempts.begin("ana|x", now, 900) for _ in range(3)] == [1, 2, 3]
    assert migrate(v3_ledger, target=4) == 4  # idempotent
