"""Schema 4 → 5, the first Alembic revision: a v4 ledger with rows upgrades in place, nothing lost."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.ledger.engine import make_engine
from core.ledger.migrations import _indexes, current_version, migrate
from core.ledger.schema import SCHEMA_VERSION, calls, response_cache
from tests.integration.conftest import LEDGER_BACKENDS, T0, ledger_at


@pytest.fixture(params=LEDGER_BACKENDS)
def v4_ledger(request, tmp_path):
    """A ledger made by the hand-written steps only (versions 1-4), holding calls and cache rows."""
    engine = ledger_at(request, tmp_path, 4, rows=25)
    with engine.begin() as conn:
        conn.execute(response_cache.insert(), [
            {"key": f"{i:064x}", "payload": "{}", "created_at": T0, "expires_at": T0 + timedelta(hours=i)}
            for i in range(5)])
    yield engine
    engine.dispose()


def _snapshot(conn) -> tuple:
    return (conn.execute(sa.select(calls).order_by(calls.c.id)).all(),
            conn.execute(sa.select(response_cache).order_by(response_cache.c.key)).all())


def _alembic_version(conn) -> list[str]:
    return list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def test_a_v4_ledger_upgrades_in_place_to_the_alembic_head(v4_ledger):
    with v4_ledger.connect() as conn:
        before = _snapshot(conn)
        assert current_version(conn) == 4 and "ix_response_cache_expires" not in _indexes(conn, "response_cache")
    assert SCHEMA_VERSION >= 5 and migrate(v4_ledger, 5) == 5
    with v4_ledger.connect() as conn:
        assert current_version(conn) == 5 and _alembic_version(conn) == ["0005"]
        assert "ix_response_cache_expires" in _indexes(conn, "response_cache")
        assert _snapshot(conn) == before and len(before[0]) == 25 and len(before[1]) == 5
        versions = list(conn.execute(sa.text("SELECT version FROM tollgate_schema ORDER BY version")).scalars())
        assert versions == [1, 2, 3, 4, 5]
    assert migrate(v4_ledger, 5) == 5  # idempotent: the fast path, no second revision run
    with v4_ledger.connect() as conn:
        assert _alembic_version(conn) == ["0005"]


def test_the_upgraded_ledger_still_takes_writes_and_cache_purges(v4_ledger):
    migrate(v4_ledger, 5)
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
            assert _alembic_version(conn) == [f"{SCHEMA_VERSION:04d}"]
            assert "ix_response_cache_expires" in _indexes(conn, "response_cache")
    finally:
        engine.dispose()


def test_a_failed_revision_leaves_version_4_intact(v4_ledger):
    with v4_ledger.begin() as conn:  # make the revision fail: its table is gone
        conn.execute(sa.text("DROP TABLE response_cache"))
    with pytest.raises(sa.exc.DBAPIError):
        migrate(v4_ledger)
    with v4_ledger.connect() as conn:
        assert current_version(conn) == 4
        assert conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar() == 25
        has_alembic = conn.execute(sa.text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_name = 'alembic_version'")).scalar()
        assert not has_alembic or _alembic_version(conn) == []
