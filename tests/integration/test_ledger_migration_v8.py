"""Schema 7 → 8 (revision 0008): run/row/batch/idempotency columns on calls, the batch and key tables; rows kept."""

from __future__ import annotations

import uuid
from datetime import UTC
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.ledger.ddl import columns
from core.ledger.migrations import _indexes, current_version, migrate
from core.ledger.schema import (
    SCHEMA_VERSION,
    V8_CALL_COLUMNS,
    as_of,
    calls,
    idempotency_keys,
    message_batches,
)
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.types import CallRecord, Usage
from tests.integration.conftest import T0, alembic_version, schema_versions, tables


@pytest.fixture
def v7_ledger(old_ledger):
    """A ledger as version 7 left it (no version-8 column or table), holding 25 calls, on each backend."""
    return old_ledger(7, rows=25)


def test_a_v7_ledger_gains_the_columns_the_index_and_the_tables_keeping_every_row(v7_ledger):
    old = as_of(calls, 7)
    with v7_ledger.connect() as conn:
        assert current_version(conn) == 7 and not set(V8_CALL_COLUMNS) & columns(conn, "calls")
        assert not {"message_batches", "idempotency_keys"} & tables(conn)
        before = conn.execute(sa.select(old).order_by(old.c.id)).all()
        indexes = set(_indexes(conn, "calls"))
    assert SCHEMA_VERSION >= 8 and migrate(v7_ledger, target=8) == 8
    with v7_ledger.connect() as conn:
        assert current_version(conn) == 8 and alembic_version(conn) == ["0008"]
        assert schema_versions(conn) == list(range(1, 9))
        assert columns(conn, "calls") == {c.name for c in as_of(calls, 8).columns}  # the revision matches schema.py
        assert columns(conn, "message_batches") == {c.name for c in message_batches.columns}
        assert columns(conn, "idempotency_keys") == {c.name for c in idempotency_keys.columns}
        assert set(_indexes(conn, "calls")) == indexes | {"ux_calls_idempotency_key"}
        assert conn.execute(sa.select(old).order_by(old.c.id)).all() == before
        rows = conn.execute(sa.select(as_of(calls, 8))).mappings().all()
        assert len(rows) == 25 and all(r["batch"] is False and r["run_id"] is None
                                       and r["idempotency_key"] is None for r in rows)
    assert migrate(v7_ledger, target=8) == 8  # idempotent


def _rec(**kw) -> CallRecord:
    return CallRecord(id=str(uuid.uuid4()), ts=T0.replace(tzinfo=UTC), user="ana", model="claude-haiku-5-5",
                      status="ok", usage=Usage(10, 5), cost_usd=Decimal("0.000035"), **kw)


def test_the_new_fields_round_trip_and_a_key_is_one_row_however_often_it_is_written(v7_ledger, tmp_path):
    migrate(v7_ledger)
    ledger = Ledger(v7_ledger, Spool(tmp_path / "l.spool"), clock=FakeClock())
    first = _rec(run_id="run-1", row_index=3, batch=True, idempotency_key="batch:msgbatch_1:row-3")
    ledger.record(first)
    assert ledger.get(first.id) == first
    # a second record with the same key (a race the claims lost, a replayed spool line): the same record
    dup = _rec(idempotency_key="batch:msgbatch_1:row-3")
    ledger.record(dup)
    ledger.store_remembered([_rec(idempotency_key="k-2"), _rec(idempotency_key="k-2"), _rec(), _rec()])
    with v7_ledger.connect() as conn:
        keys = conn.execute(sa.select(calls.c.idempotency_key, sa.func.count()).where(
            calls.c.idempotency_key.is_not(None)).group_by(calls.c.idempotency_key)).all()
        assert dict(keys) == {"batch:msgbatch_1:row-3": 1, "k-2": 1}
        assert conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar() == 25 + 1 + 1 + 2
    assert ledger.get(dup.id) is None and not ledger.spool.pending()  # dropped as a duplicate, not spooled


def test_a_ledger_made_at_version_1_by_this_code_also_reaches_8(tmp_path):
    from core.ledger.engine import make_engine

    engine = make_engine(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    try:
        assert migrate(engine, target=8) == 8
        with engine.connect() as conn:
            assert {"message_batches", "idempotency_keys"} <= tables(conn)
            assert set(V8_CALL_COLUMNS) <= columns(conn, "calls")
            assert "ux_calls_idempotency_key" in _indexes(conn, "calls")
    finally:
        engine.dispose()
