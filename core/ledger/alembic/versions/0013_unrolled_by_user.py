"""Schema version 13: one user's rows not yet rolled up, from an index (PostgreSQL).

A budget check on PostgreSQL, and an analyst's report, read one user's month as the rollups plus the raw rows
not in them; ``ix_calls_unrolled (ts) WHERE NOT rolled`` then walks every user's unrolled rows (a minute of
the whole gateway's calls between refreshes) to keep one user's. ``ix_calls_unrolled_user (user_id, ts) WHERE
NOT rolled`` finds that user's alone. Entries leave it as rows are rolled, so it stays small. DuckDB scans its
columns and gets no index. Self-contained and idempotent.
"""

import sqlalchemy as sa
from alembic import op

from core.ledger.ddl import indexes

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEX = "ix_calls_unrolled_user"
INDEX_SQL = f"CREATE INDEX {INDEX} ON calls (user_id, ts) WHERE NOT rolled"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql" and INDEX not in indexes(conn, "calls"):
        conn.execute(sa.text(INDEX_SQL))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="calls", if_exists=True)
