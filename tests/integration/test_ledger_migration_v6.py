"""Schema 5 → 6 (Alembic revision 0006): server-tool counts, tier, geo and the cost split; rows kept."""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.ledger import records
from core.ledger.ddl import columns
from core.ledger.migrations import current_version, migrate
from core.ledger.schema import SCHEMA_VERSION, V6_CALL_COLUMNS, as_of, calls
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.types import CallRecord, Usage
from tests.integration.conftest import T0, alembic_version, schema_versions


@pytest.fixture
def v5_ledger(old_ledger):
    """A ledger as version 5 left it (no version-6 column), holding 30 calls, on each backend."""
    return old_ledger(5, rows=30)


def _old_columns(conn) -> list[str]:
    return sorted(c for c in columns(conn, "calls") if c not in V6_CALL_COLUMNS)


def test_a_v5_ledger_gains_the_columns_in_place_and_keeps_every_row(v5_ledger):
    with v5_ledger.connect() as conn:
        assert current_version(conn) == 5 and not set(V6_CALL_COLUMNS) & columns(conn, "calls")
        names = _old_columns(conn)
        before = conn.execute(sa.text(f"SELECT {', '.join(names)} FROM calls ORDER BY id")).all()
    assert SCHEMA_VERSION >= 6 and migrate(v5_ledger, target=6) == 6
    with v5_ledger.connect() as conn:
        assert current_version(conn) == 6 and alembic_version(conn) == ["0006"]
        assert columns(conn, "calls") == {c.name for c in as_of(calls, 6).columns}  # the revision matches schema.py
        assert schema_versions(conn) == [1, 2, 3, 4, 5, 6]
        assert conn.execute(sa.text(f"SELECT {', '.join(names)} FROM calls ORDER BY id")).all() == before
        old = conn.execute(sa.select(as_of(calls, 6))).mappings().all()
        assert len(old) == 30
        assert all(r["web_search_requests"] == 0 and r["web_fetch_requests"] == 0 for r in old)
        assert all(r["service_tier"] is None and r["cost_input_usd"] is None for r in old)  # not split
        rec = records.from_row(old[0])
        assert rec.cost_usd == Decimal("0.00001234") and rec.cost_parts is None
    assert migrate(v5_ledger, target=6) == 6  # the fast path: nothing run twice
    with v5_ledger.connect() as conn:
        assert alembic_version(conn) == ["0006"]


def test_the_upgraded_ledger_records_and_reads_back_every_new_field(v5_ledger, tmp_path):
    migrate(v5_ledger)
    ledger = Ledger(v5_ledger, Spool(tmp_path / "l.spool"), clock=FakeClock())
    parts = {"input": Decimal("0.0044"), "output": Decimal("0.011"), "cache_write_5m": Decimal(0),
             "cache_write_1h": Decimal(0), "cache_read": Decimal(0), "server_tools": Decimal("0.03")}
    rec = CallRecord(id=str(uuid.uuid4()), ts=T0.replace(tzinfo=UTC), user="ana", model="claude-opus-5-5",
                     status="ok", usage=Usage(1000, 500, web_search_requests=3, service_tier="standard",
                                              inference_geo="us"),
                     cost_usd=Decimal("0.0454"), cost_parts=parts, price_version="t/claude-opus-5-5@2024-01-01")
    ledger.record(rec)
    assert ledger.get(rec.id) == rec


def test_a_spool_line_of_an_older_release_replays_into_the_new_columns(v5_ledger, tmp_path):
    migrate(v5_ledger)
    rec = CallRecord(id=str(uuid.uuid4()), ts=T0.replace(tzinfo=UTC), user="bo", model="claude-haiku-5-5",
                     status="ok", usage=Usage(10, 5), cost_usd=Decimal("0.0000035"))
    line = records.to_json(rec)
    old = {k: v for k, v in json.loads(line).items() if k not in V6_CALL_COLUMNS}  # as version 5 wrote it
    spool = Spool(tmp_path / "old.spool")
    spool.append(json.dumps(old))
    spool.append(records.to_json(CallRecord(id=str(uuid.uuid4()), ts=T0.replace(tzinfo=UTC), user="bo",
                                            model="claude-haiku-5-5", status="ok",
                                            usage=Usage(1, 1, web_search_requests=1), cost_usd=Decimal("0.01"),
                                            cost_parts={"server_tools": Decimal("0.01")})))
    ledger = Ledger(v5_ledger, spool, clock=FakeClock())
    assert ledger.replay_spool() == 2  # both in one INSERT, though the old line names fewer columns
    back = ledger.get(rec.id)
    assert back.usage == rec.usage and back.cost_usd == rec.cost_usd and back.cost_parts is None


def test_a_failed_revision_leaves_version_5_intact(v5_ledger):
    with v5_ledger.begin() as conn:  # make the revision fail: its table is gone
        conn.execute(sa.text("DROP TABLE calls"))
    with pytest.raises(sa.exc.DBAPIError):
        migrate(v5_ledger)
    with v5_ledger.connect() as conn:
        assert current_version(conn) == 5 and alembic_version(conn) == ["0005"]


def test_the_journal_carries_every_new_field(v5_ledger, tmp_path):
    migrate(v5_ledger)
    ledger = Ledger(v5_ledger, Spool(tmp_path / "j.spool"), clock=FakeClock())
    rec = CallRecord(id=str(uuid.uuid4()), ts=T0.replace(tzinfo=UTC), user="ana", model="claude-opus-5-5",
                     status="cached", usage=Usage(0, 0, web_fetch_requests=2, service_tier="batch",
                                                  inference_geo="global"), cost_usd=Decimal(0))
    assert ledger.remember(rec)  # journaled, fsync'd
    lines = ledger.journal.path.read_text(encoding="utf-8").rstrip("\0").splitlines()  # then its preallocated zeros
    assert [records.row_from_json(line)["web_fetch_requests"] for line in lines] == [2]
    ledger.store_remembered([rec])
    assert ledger.get(rec.id) == rec
    ledger.close()
