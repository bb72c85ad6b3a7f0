"""Schema version 9: batch runs (``batch_runs``) and their rows (``batch_items``), the state of core/batches.

Self-contained: the tables are spelt out here rather than taken from schema.py, so a later change there
cannot change what this step did. Each is made only when missing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)


def upgrade() -> None:
    conn = op.get_bind()
    present = set(conn.execute(sa.text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")).scalars())
    if "batch_runs" not in present:
        op.create_table(
            "batch_runs",
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("user_id", sa.String(200), nullable=False),
            sa.Column("name", sa.String(200)),
            sa.Column("mode", sa.String(8), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("model", sa.String(100), nullable=False),
            sa.Column("system", sa.Text),
            sa.Column("template", sa.Text, nullable=False),
            sa.Column("max_tokens", sa.Integer, nullable=False),
            sa.Column("temperature", sa.Double),
            sa.Column("rows", sa.Integer, nullable=False),
            sa.Column("upstream_batch_id", sa.String(128)),
            sa.Column("reserved_usd", MONEY, nullable=False),
            sa.Column("created_at", sa.DateTime, nullable=False),
            sa.Column("ended_at", sa.DateTime),
            sa.Column("compare_key", sa.String(64), nullable=False),
            sa.Column("source", sa.String(16), nullable=False),
            sa.Column("api_key_id", sa.String(36)),
            sa.Column("detail", sa.Text),
        )
        op.create_index("ix_batch_runs_user", "batch_runs", ["user_id", "created_at"])
    if "batch_items" not in present:
        op.create_table(
            "batch_items",
            sa.Column("run_id", sa.String(36), primary_key=True),
            sa.Column("row_index", sa.Integer, primary_key=True),
            sa.Column("custom_id", sa.String(64), nullable=False),
            sa.Column("input", sa.Text, nullable=False),
            sa.Column("prompt", sa.Text, nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("call_id", sa.String(36)),
            sa.Column("output", sa.Text),
            sa.Column("cost_usd", MONEY),
            sa.Column("latency_ms", sa.Double),
            sa.Column("error", sa.Text),
            sa.Column("updated_at", sa.DateTime),
        )


def downgrade() -> None:
    op.drop_table("batch_items", if_exists=True)
    op.drop_table("batch_runs", if_exists=True)
