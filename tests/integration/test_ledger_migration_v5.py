"""Schema 4 → 5: a v4 ledger with rows, made by Alembic or by the old hand-written step, upgrades in place."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.ledger.alembic import revision_of
from core.ledger.engine import make_engine
from core.ledger.migrations import _indexes, current_version, migrate
from core.ledger.schema import SCHEMA_VERSION, as_of, calls, response_cache
from tests.integration.conftest import T0, alembic_version, schema_versions, table_rows


@pytest.fixture(params=["alembic", "hand-written"])
def v4_ledger(request, old_ledger):
    """A version-4 ledger holding calls and cache rows: made by revision 0004, or as releases before Alembic made it."""
    engine = old_ledger(4, rows=25, hand_written=request.param == "hand-written")
    with engine.begin() as conn:
        conn.execute(response_cache.insert(), [
            {"key": f"{i:064x}", "payload": "{}", "created_at": T0, "expires_at": T0 + timedelta(hours=i)}
            for i in range(5)])
    return engine


def _snapshot(conn) -> tuple:
    return table_rows(conn, as_of(calls, 5)), table_rows(conn, response_cache)  # version 6 adds columns


def test_a_v4_ledger_upgrades_in_place_to_version_5(v4_ledger):
    with v4_ledger.connect() as conn:
        before = _snapshot(conn)
        assert current_version(conn) == 4 and "ix_response_cache_expires" not in _indexes(conn, "response_cache")
    assert SCHEMA_VERSION >= 5 and migrate(v4_ledger, target=5) == 5
    with v4_ledger.connect() as conn:
        assert current_version(conn) == 5 and alembic_version(conn) == ["0005"]
        assert "ix_response_cache_expires" in _indexes(conn, "response_cache")
        assert _snapshot(conn) == before and len(before[0]) == 25 and len(before[1]) == 5
        assert schema_versions(conn) == [1, 2, 3, 4, 5]
    assert migrate(v4_ledger, target=5) == 5  # idempotent: the fast path, no second revision run
    with v4_ledger.connect() as conn:
        assert alembic_version(conn) == ["0005"]


def test_the_upgraded_ledger_still_takes_writes_and_cache_purges(v4_ledger):
    migrate(v4_ledger)
    with v4_ledger.begin() as conn:
        conn.execute(calls.insert().values(id=str(uuid.uuid4()), ts=T0, user_id="bo", model="claude-haiku-5-5",
                                           status="ok", cost_usd="0", source="cli"))
        conn.execute(response_cache.delete().where(response_cache.c.expires_at <= T0 + timedelta(hours=2)))
    with v4_ledger.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar() == 26
        assert conn.execute(sa.select(sa.func.count()).select_from(response_cache)).scalar() == 2


def test_a_fresh_ledger_reaches_the_head_through_both_kinds_of_step(tmp_path):
    engine = make_engine(f"duckdb:///{tmp_path / 'fresh.duckdb'}")
    try:
        assert migrate(engine) == SCHEMA_VERSION
        with engine.connect() as conn:
            assert alembic_version(conn) == [revision_of(SCHEMA_VERSION)]
            assert "ix_response_cache_expires" in _indexes(conn, "response_cache")
    finally:
        engine.dispose()


def _alembic_state(conn) -> list[str] | None:
    """What ``alembic_version`` holds, None where the table does not exist."""
    present = conn.execute(sa.text(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_name = 'alembic_version'")).scalar()
    return alembic_version(conn) if present else None


def test_a_failed_revision_leaves_version_4_intact(v4_ledger):
    with v4_ledger.begin() as conn:  # make the revision fail: its table is gone
        conn.execute(sa.text("DROP TABLE response_cache"))
    with v4_ledger.connect() as conn:
        alembic_before = _alembic_state(conn)
    assert alembic_before in (None, ["0004"])
    with pytest.raises(sa.exc.DBAPIError):
        migrate(v4_ledger, target=5)
    with v4_ledger.connect() as conn:
        assert current_version(conn) == 4
        assert conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar() == 25
        assert _alembic_state(conn) == alembic_before
