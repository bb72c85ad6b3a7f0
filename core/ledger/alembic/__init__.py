"""Ledger schema steps from version 4 on, as Alembic revisions, run by ``core.ledger.migrations.migrate``.

Versions 1 to 3 stay hand-written (migrations.STEPS); version N > 3 is the revision with id
``f"{N:04d}"`` in ``versions/``. ``upgrade`` runs on the caller's connection, inside its
transaction and under its lock, so a failed revision leaves the previous version intact and
``alembic_version`` moves together with ``tollgate_schema``.
"""

from __future__ import annotations

import functools
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


def _config(conn: Connection | None = None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_DIR))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


@functools.cache
def _scripts():
    """The revisions, read once a process: Alembic's ``command.upgrade`` reads (and compiles) every file in
    ``versions/`` again on each call, and ``migrate`` calls it once a version (a fresh ledger: 11 times)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def upgrade(conn: Connection, version: int) -> None:
    """Apply the revision of ``version`` on ``conn`` (already in the migration's transaction).

    What ``alembic.command.upgrade`` does, on the process's one ``ScriptDirectory``."""
    from alembic.runtime.environment import EnvironmentContext

    _register_duckdb()
    script, target = _scripts(), revision_of(version)

    def steps(rev, context):
        return script._upgrade_revs(target, rev)

    with EnvironmentContext(_config(conn), script, fn=steps, as_sql=False, starting_rev=None,
                            destination_rev=target, tag=None):
        script.run_env()
