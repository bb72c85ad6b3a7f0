"""PostgreSQL: the rollup lock is per ledger (database and schema), so a refresh or a change holding it in one
schema does not stall the refreshes of ledgers in other schemas of the same database (advisory locks are
database-wide), while two refreshers of one ledger still take turns."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime

import pytest

from core.ledger import rollup
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from tests.conftest import pg_schema
from tests.integration.test_rollups import add, rows

pytestmark = pytest.mark.postgres


def test_a_rollup_lock_held_in_one_schema_leaves_another_schemas_ledger_free_to_roll():
    with ExitStack() as stack:
        a, b = (make_engine(stack.enter_context(pg_schema("t_i14pg_"))) for _ in range(2))
        for e in (a, b):
            migrate(e)
            stack.callback(e.dispose)
        add([a, b], rows(50, datetime(2026, 11, 2), 24, seed=31))
        with b.connect() as conn, conn.begin():
            rollup.locked(conn)  # b's ledger is busy (a refresh, demo rows being removed)
            assert rollup.refresh(a) == 50
            assert rollup.refresh(b) == 0  # b's own refreshers wait their turn
        assert rollup.refresh(b) == 50
