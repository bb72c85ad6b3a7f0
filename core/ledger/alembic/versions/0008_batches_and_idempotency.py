"""Schema version 8: batch runs and idempotent calls.

``calls`` gains ``run_id``, ``row_index``, ``batch`` (NOT NULL, false on existing rows) and
``idempotency_key`` with a unique index (many NULLs allowed on both backends), so one key is one
billed row whatever races happen. ``message_batches`` records whose each Message Batch is and what
was held for it; ``idempotency_keys`` holds the claim a keyed call takes before it is sent.
Self-contained and idempotent: what already exists is left alone.
"""

import sqlalchemy as sa
from alembic import op

from core.ledger.ddl import add_missing_columns, has_table, indexes

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)
UNIQUE_KEY = "ux_calls_idempotency_key"
# Spelled out, not taken from schema.py: a revision is frozen as it shipped.
ADDED = sa.Table(
    "calls", sa.MetaData(),
    sa.Column("run_id", sa.String(36)),
    sa.Column("row_index", sa.Integer),
    sa.Column("batch", sa.Boolean, nullable=False, default=False),
    sa.Column("idempotency_key", sa.String(128)),
)


def upgrade() -> None:
    conn = op.get_bind()
    add_missing_columns(conn, ADDED)
    if UNIQUE_KEY not in indexes(conn, "calls"):
        conn.execute(sa.text(f"CREATE UNIQUE INDEX {UNIQUE_KEY} ON calls (idempotency_key)"))
    if not has_table(conn, "message_batches"):
        op.create_table(
            "message_batches",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("user_id", sa.String(200), nullable=False),
            sa.Column("api_key_id", sa.String(36)),
            sa.Column("run_id", sa.String(36)),
            sa.Column("source", sa.String(16), nullable=False),
            sa.Column("rows", sa.Integer, nullable=False),
            sa.Column("reserved_usd", MONEY, nullable=False),
            sa.Column("hold_prefix", sa.String(100), nullable=False),
            sa.Column("items", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime, nullable=False),
        )
    if not has_table(conn, "idempotency_keys"):
        op.create_table(
            "idempotency_keys",
            sa.Column("key", sa.String(128), primary_key=True),
            sa.Column("user_id", sa.String(200), nullable=False),
            sa.Column("call_id", sa.String(36), nullable=False),
            sa.Column("state", sa.String(8), nullable=False),
            sa.Column("result", sa.Text),
            sa.Column("claimed_at", sa.DateTime, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("idempotency_keys", if_exists=True)
    op.drop_table("message_batches", if_exists=True)
    op.drop_index(UNIQUE_KEY, table_name="calls", if_exists=True)
    for column in reversed(ADDED.columns):
        op.drop_column("calls", column.name)
