"""Ledger schema steps from version 4 on, as Alembic revisions, run by ``core.ledger.migrations.migrate``.

Versions 1 to 3 stay hand-written (migrations.STEPS); version N > 3 is the revision with id
``f"{N:04d}"`` in ``versions/``. ``upgrade`` runs on the caller's connection, inside its
transaction and under its lock, so a failed revision leaves the previous version intact and
``alembic_version`` moves together with ``tollgate_schema``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Connection

SCRIPT_DIR = Path(__file__).resolve().parent


def revision_of(version: int) -> str:
    """The Alembic revision id that brings the ledger to schema ``version`` (4 -> "0004")."""
    return f"{version:04d}"


def _register_duckdb() -> None:
    """Teach Alembic the duckdb dialect (duckdb_engine ships none): DuckDB speaks PostgreSQL's DDL."""
    from alembic.ddl.impl import _impls
    from alembic.ddl.postgresql import PostgresqlImpl

    if "duckdb" not in _impls:
        type("DuckDBImpl", (PostgresqlImpl,), {"__dialect__": "duckdb", "transactional_ddl": True})


def upgrade(conn: Connection, version: int) -> None:
    """Apply the revision of ``version`` on ``conn`` (already in the migration's transaction)."""
    from alembic import command
    from alembic.config import Config

    _register_duckdb()
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, revision_of(version))
