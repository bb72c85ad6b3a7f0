"""What the schema steps ask of a live database: its tables, columns and indexes, and adding columns.

Shared by the hand-written steps (core/ledger/migrations.py) and the Alembic revisions
(core/ledger/alembic/versions), which therefore never import the migration runner that imports them.
"""

from __future__ import annotations

from sqlalchemy import Table, text
from sqlalchemy.engine import Connection


def has_table(conn: Connection, name: str) -> bool:
    return bool(conn.execute(text(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = :t"), {"t": name}).scalar())


def columns(conn: Connection, table: str) -> set[str]:
    return set(conn.execute(text(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = :t"), {"t": table}).scalars())


def indexes(conn: Connection, table: str) -> dict[str, str]:
    """Secondary indexes of ``table`` as {name: the SQL that creates it}."""
    if conn.dialect.name == "duckdb":
        q = ("SELECT index_name, sql FROM duckdb_indexes() "
             "WHERE schema_name = current_schema() AND table_name = :t")
    else:  # SQLAlchemy's reflection does not work on duckdb_engine; the catalogues do
        q = ("SELECT indexname, indexdef FROM pg_indexes "
             "WHERE schemaname = current_schema() AND tablename = :t")
    return {name: sql for name, sql in conn.execute(text(q), {"t": table}).all()}


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


def add_missing_columns(conn: Connection, table: Table, only: tuple[str, ...] | None = None) -> list[str]:
    """ALTER ``table`` to add every column the metadata has and the database lacks (of ``only``, if given).

    A NOT NULL column is added with its scalar default, which fills existing rows.
    DuckDB refuses to ALTER a table that has indexes, so on DuckDB the table's
    secondary indexes are dropped first and recreated from their own SQL afterwards.
    """
    present = columns(conn, table.name)
    missing = [c for c in table.columns if c.name not in present and (only is None or c.name in only)]
    if not missing:
        return []
    prep = conn.dialect.identifier_preparer
    dropped = indexes(conn, table.name) if conn.dialect.name == "duckdb" else {}
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


def add_filled_column(conn: Connection, table: Table, name: str, fill_sql: str) -> bool:
    """Add ``table``'s NOT NULL column ``name`` holding ``fill_sql`` on every existing row and its own default on
    new ones; False when it is there already. PostgreSQL stores the fill once (no row rewritten, however many)."""
    if name in columns(conn, table.name):
        return False
    col, prep = table.c[name], conn.dialect.identifier_preparer
    dropped = indexes(conn, table.name) if conn.dialect.name == "duckdb" else {}  # see add_missing_columns
    for index in dropped:
        conn.execute(text(f"DROP INDEX {prep.quote(index)}"))
    alter = f"ALTER TABLE {prep.quote(table.name)}"
    conn.execute(text(f"{alter} ADD COLUMN {prep.quote(name)} {col.type.compile(dialect=conn.dialect)} "
                      f"DEFAULT {fill_sql} NOT NULL"))
    conn.execute(text(f"{alter} ALTER COLUMN {prep.quote(name)} SET DEFAULT {_default_sql(col)}"))
    for sql in dropped.values():
        conn.execute(text(sql))
    return True
