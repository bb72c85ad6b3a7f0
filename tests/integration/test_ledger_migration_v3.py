"""Schema 2 → 3 on a ledger that holds rows: the checklist and probe tables appear, nothing else changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from core.accounts.users import Principal
from core.checklist.store import standing, tick
from core.ledger.migrations import current_version, migrate
from core.ledger.probe import round_trip
from core.ledger.schema import SCHEMA_VERSION
from tests.integration.conftest import LEDGER_BACKENDS, ledger_at, tables


@pytest.fixture(params=LEDGER_BACKENDS)
def v2_ledger(request, tmp_path):
    """A ledger exactly as version 2 left it, with rows."""
    engine = ledger_at(request, tmp_path, 2)
    yield engine
    engine.dispose()


def test_upgrade_adds_the_tables_and_keeps_rows(v2_ledger):
    with v2_ledger.connect() as conn:
        before = tables(conn)
        assert current_version(conn) == 2 and "checklist_ticks" not in before and "health_probe" not in before
    assert SCHEMA_VERSION >= 3 and migrate(v2_ledger, target=3) == 3
    with v2_ledger.connect() as conn:
        assert tables(conn) == before | {"checklist_ticks", "health_probe"}
        assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 10
    tick(v2_ledger, "https", Principal("alice", "Alice", "admin"), now=datetime(2026, 11, 22, tzinfo=UTC))
    assert standing(v2_ledger)["https"].ticked_by == "alice"
    timing = round_trip(v2_ledger)
    assert timing["write_ms"] > 0 and timing["read_ms"] > 0
    with v2_ledger.connect() as conn:  # the probe wrote its own table, never calls
        assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 10
        assert conn.execute(sa.text("SELECT count(*) FROM health_probe")).scalar() == 1
