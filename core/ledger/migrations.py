"""Create or upgrade the ledger schema to ``SCHEMA_VERSION``, idempotently and once at a time.

The applied versions are rows of ``tollgate_schema``. A database without that table
is version 0: empty, or a legacy ledger whose tables may lack columns. Each step
``N -> N+1`` up to 3 is one function in ``STEPS``; from 4 on, each is an Alembic revision
(core/ledger/alembic, which also keeps ``alembic_version``). Every step runs with its version
row in ONE transaction, so a failed step leaves the previous version intact. Concurrent starts
are serialised: PostgreSQL with a transaction-scoped advisory lock (across
processes), DuckDB with a process lock per database file (DuckDB lets only one
process open a file for writing, so that is every writer there is).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, Table, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex

from core.ledger.schema import ADDED_IN, SCHEMA_VERSION, metadata, schema_version

_PG_LOCK_KEY = 0x70_6C_67_74  # pg_advisory_xact_lock key for "tollgate migrate"
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
# The version table is created by hand: an Integer primary key would compile to SERIAL,
# a type DuckDB does not have.
_VERSION_DDL = ("CREATE TABLE IF NOT EXISTS tollgate_schema "
                "(version INTEGER NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")


def _process_lock(engine: Engine) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(engine.url), threading.Lock())


def _has_table(conn: Connection, name: str) -> bool:
    return bool(conn.execute(text(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = :t"), {"t": name}).scalar())


def _columns(conn: Connection, table: str) -> set[str]:
    return set(conn.execute(text(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = :t"), {"t": table}).scalars())


def _indexes(conn: Connection, table: str) -> dict[str, str]:
    """Secondary indexes of ``table`` as {name: the SQL that creates it}."""
    if conn.dialect.name == "duckdb":
        q = ("SELECT index_name, sql FROM duckdb_indexes() "
             "WHERE schema_name = current_schema() AND table_name = :t")
    else:  # SQLAlchemy's reflection does not work on duckdb_engine; the catalogues do
        q = ("SELECT indexname, indexdef FROM pg_indexes "
             "WHERE schemaname = current_schema() AND tablename = :t")
    return {name: sql for name, sql in conn.execute(text(q), {"t": table}).all()}


def current_version(conn: Connection) -> int:
    """The highest applied version (0 for an empty or legacy database)."""
    if not _has_table(conn, "tollgate_schema"):
        return 0
    return int(conn.execute(select(schema_version.c.version).order_by(
        schema_version.c.version.desc()).limit(1)).scalar() or 0)


def _default_sql(column) -> str | None:
    """A literal DEFAULT for a column added to a table that already has rows."""
    default = column.default.arg if column.default is not None and column.default.is_scalar else None
    if default is None:
        return None
    if isinstance(default, bool):
        return "TRUE" if default else "FALSE"
    if isinstance(default, int | float):
        return str(default)
    return "'" + str(default).replace("'", "''") + "'"


def add_missing_columns(conn: Connection, table: Table) -> list[str]:
    """ALTER ``table`` to add every column the metadata has and the database lacks.

    A NOT NULL column is added with its scalar default, which fills existing rows.
    DuckDB refuses to ALTER a table that has indexes, so on DuckDB the table's
    secondary indexes are dropped first and recreated from their own SQL afterwards.
    """
    present = _columns(conn, table.name)
    missing = [c for c in table.columns if c.name not in present]
    if not missing:
        return []
    prep = conn.dialect.identifier_preparer
    dropped = _indexes(conn, table.name) if conn.dialect.name == "duckdb" else {}
    for name in dropped:
        conn.execute(text(f"DROP INDEX {prep.quote(name)}"))
    for col in missing:
        ddl = (f"ALTER TABLE {prep.quote(table.name)} ADD COLUMN {prep.quote(col.name)} "
               f"{col.type.compile(dialect=conn.dialect)}")
        default = _default_sql(col)
        if default is not None:
            ddl += f" DEFAULT {default}"
            if not col.nullable:
                ddl += " NOT NULL"
        conn.execute(text(ddl))
    for sql in dropped.values():
        conn.execute(text(sql))
    return [c.name for c in missing]


def _tables_of(version: int) -> list[Table]:
    """The tables (besides the version table) that ``version`` introduced; 1 means the originals."""
    return [t for t in metadata.sorted_tables
            if t is not schema_version and ADDED_IN.get(t.name, 1) == version]


def _ensure_indexes(conn: Connection) -> None:
    """Create every version-1 index the database lacks (legacy tables had fewer)."""
    for table in _tables_of(1):
        existing = _indexes(conn, table.name)
        for ix in table.indexes:
            if ix.name not in existing:
                conn.execute(CreateIndex(ix))


def _to_v1(conn: Connection) -> None:
    """Version 1: every table of schema.py; a legacy (version 0) ledger gains missing columns."""
    tables = _tables_of(1)
    metadata.create_all(conn, tables=tables, checkfirst=True)
    for table in tables:
        add_missing_columns(conn, table)
    _ensure_indexes(conn)


def _to_v2(conn: Connection) -> None:
    """Version 2: latency and time to first token become 8-byte floats (rows kept, values widened)."""
    narrow = [c for c in ("latency_ms", "ttft_ms") if _data_type(conn, "calls", c) in ("float", "real")]
    if not narrow:  # created by this code's schema: already DOUBLE
        return
    # DuckDB cannot change a column's type while the table has indexes: drop, alter, rebuild.
    indexes = _indexes(conn, "calls") if conn.dialect.name == "duckdb" else {}
    for name in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
    for column in narrow:
        conn.execute(text(f"ALTER TABLE calls ALTER COLUMN {column} TYPE DOUBLE PRECISION"))
    for sql in indexes.values():
        conn.execute(text(sql))


def _data_type(conn: Connection, table: str, column: str) -> str:
    return str(conn.execute(text(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = :t AND column_name = :c"), {"t": table, "c": column}).scalar() or "").lower()


def _to_v3(conn: Connection) -> None:
    """Version 3: checklist ticks (who vouched for a manual item, when) and the health probe row."""
    metadata.create_all(conn, tables=_tables_of(3), checkfirst=True)


# Version N <= 3 is reached by STEPS[N] from N-1. Every later version is an Alembic revision
# (core/ledger/alembic/versions, id f"{N:04d}"): a new one is a revision file there, and
# SCHEMA_VERSION bumped in schema.py. Older releases reached 4 by a hand-written step; the
# revision "0004" is idempotent, so such a ledger passes through it again on its way up.
STEPS: dict[int, Callable[[Connection], None]] = {1: _to_v1, 2: _to_v2, 3: _to_v3}


def _step(conn: Connection, version: int) -> None:
    if version in STEPS:
        STEPS[version](conn)
        return
    from core.ledger import alembic  # imported only when a revision is due: starts stay light

    alembic.upgrade(conn, version)


def migrate(engine: Engine, target: int = SCHEMA_VERSION, *, now: datetime | None = None) -> int:
    """Bring the database to ``target`` (default: the code's version); returns ``target``.

    A database already past a lower ``target`` but no newer than this code is left as it is
    (it has everything ``target`` has); one newer than the code is refused. ``now`` (aware UTC)
    stamps the applied versions; the system clock when omitted.
    """
    known = max(target, SCHEMA_VERSION)
    with engine.connect() as conn:  # fast path: most starts find the schema current
        if target <= current_version(conn) <= known:
            return target
    pg = engine.dialect.name == "postgresql"
    lock = threading.Lock() if pg else _process_lock(engine)
    with lock, engine.begin() as conn:
        if pg:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        conn.execute(text(_VERSION_DDL))
        version = current_version(conn)
        if version > known:
            raise RuntimeError(f"The ledger is at schema version {version}, newer than this code's "
                               f"{known}: upgrade Tollgate instead of using an old release.")
        for step in range(version + 1, target + 1):
            if step not in STEPS and step > SCHEMA_VERSION:
                raise RuntimeError(f"No migration to ledger schema version {step}.")
            _step(conn, step)
            conn.execute(schema_version.insert().values(
                version=step, applied_at=(now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)))
        return target
