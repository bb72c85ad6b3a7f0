"""Schema version 6: server-tool counts, service tier, inference geo and the cost split by part on ``calls``.

``web_search_requests`` / ``web_fetch_requests`` (NOT NULL, 0 on existing rows), ``service_tier`` and
``inference_geo`` (as usage reported them, NULL before), and ``cost_<part>_usd`` for input, output,
5-minute and 1-hour cache writes, cache reads and server tools (NULL on rows recorded before: the
usage report shows their cost as not split). Rows are kept; DuckDB's indexes on ``calls`` are dropped
and rebuilt around the ALTERs, which it refuses on an indexed table. Idempotent: a column already
there is left alone.
"""

import sqlalchemy as sa
from alembic import op

from core.ledger.ddl import add_missing_columns

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)
# The columns are spelled out, not taken from schema.py: a revision is frozen as it shipped.
ADDED = sa.Table(
    "calls", sa.MetaData(),
    sa.Column("web_search_requests", sa.Integer, nullable=False, default=0),
    sa.Column("web_fetch_requests", sa.Integer, nullable=False, default=0),
    sa.Column("service_tier", sa.String(16)),
    sa.Column("inference_geo", sa.String(32)),
    sa.Column("cost_input_usd", MONEY),
    sa.Column("cost_output_usd", MONEY),
    sa.Column("cost_cache_write_5m_usd", MONEY),
    sa.Column("cost_cache_write_1h_usd", MONEY),
    sa.Column("cost_cache_read_usd", MONEY),
    sa.Column("cost_server_tools_usd", MONEY),
)


def upgrade() -> None:
    add_missing_columns(op.get_bind(), ADDED)


def downgrade() -> None:
    for column in reversed(ADDED.columns):
        op.drop_column("calls", column.name)
