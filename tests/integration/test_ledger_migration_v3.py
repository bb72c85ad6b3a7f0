"""Schema 2 → 3 on a ledger that holds rows: the checklist and probe tables appear, nothing else changes."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from core.accounts.users import Principal
from core.checklist.store import standing, tick
from core.ledger.migrations import migrate
from core.ledger.probe import round_trip
from core.ledger.schema import SCHEMA_VERSION
from tests.integration.conftest import before_upgrade, tables


def test_upgrade_adds_the_tables_and_keeps_rows(old_ledger):
    v2_ledger = old_ledger(2)  # exactly as version 2 left it, with rows
    before = before_upgrade(v2_ledger, 2, "checklist_ticks", "health_probe")
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
