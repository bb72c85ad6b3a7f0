"""Schema version 7: Tollgate keys for the gateway (``api_keys``, hashes only) and ``calls.api_key_id``.

Self-contained: the table and the column are spelt out here rather than taken from schema.py,
so a later change there cannot change what this step did. Both are made only when missing (a
ledger created at version 1 by this code's ``create_all`` already has the column).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    present = set(conn.execute(sa.text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")).scalars())
    if "api_keys" not in present:
        op.create_table(
            "api_keys",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("user_id", sa.String(200), nullable=False),
            sa.Column("name", sa.String(200)),
            sa.Column("secret_sha256", sa.String(64), nullable=False),
            sa.Column("last_four", sa.String(4), nullable=False),
            sa.Column("models", sa.Text),
            sa.Column("created_at", sa.DateTime, nullable=False),
            sa.Column("created_by", sa.String(200)),
            sa.Column("expires_at", sa.DateTime),
            sa.Column("revoked_at", sa.DateTime),
            sa.Column("last_used_at", sa.DateTime),
        )
    columns = set(conn.execute(sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'calls'")).scalars())
    if "api_key_id" not in columns:
        # DuckDB refuses ALTER TABLE on a table with indexes: drop them, add the column, rebuild them.
        dropped = dict(conn.execute(sa.text(
            "SELECT index_name, sql FROM duckdb_indexes() WHERE schema_name = current_schema() "
            "AND table_name = 'calls'")).all()) if conn.dialect.name == "duckdb" else {}
        for name in dropped:
            conn.execute(sa.text(f'DROP INDEX "{name}"'))
        conn.execute(sa.text("ALTER TABLE calls ADD COLUMN api_key_id VARCHAR(36)"))
        for sql in dropped.values():
            conn.execute(sa.text(sql))


def downgrade() -> None:
    op.drop_table("api_keys", if_exists=True)
