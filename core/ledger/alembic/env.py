"""Alembic's environment for the ledger: migrations run on the connection ``migrate`` hands over.

Run by ``core.ledger.alembic.upgrade`` (the app's engine, inside its transaction). Without a
handed-over connection (the ``alembic`` command line), the ledger named by the settings is used.
"""

from __future__ import annotations

from alembic import context

from core.ledger.schema import metadata


def _include(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate compares only what schema.py declares: indexes made by revisions are theirs."""
    return not (type_ == "index" and reflected and compare_to is None)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, include_object=_include,
                      version_table="alembic_version")
    with context.begin_transaction():  # a no-op inside migrate()'s transaction: it commits or rolls back
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from core.config import load_settings
    from core.ledger.alembic import _register_duckdb
    from core.ledger.engine import make_engine

    _register_duckdb()
    engine = make_engine(load_settings(load_keys=False).ledger_url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
