"""Schema version 14: usage per UTC day over every user, and per UTC month and user, for the page's year at scale.

``usage_daily_all`` (``usage_daily`` without the user) gives errors, totals and per-model figures over every user
without a row per user and day; ``usage_monthly`` (``usage_daily`` per UTC month) gives a year per user as twelve
months instead of 365 days. Both are filled from ``usage_daily`` itself (which holds exactly the rolled rows, and is
a few hundred times smaller than the calls), under the rollup lock so that no refresh folds rows in between; from
then on every refresh folds into them too. Self-contained and idempotent.
"""

import sqlalchemy as sa
from alembic import op

from core.ledger.ddl import has_table

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

KEYS = ("model", "status", "error_code", "service_tier", "inference_geo", "prompt_band")
MEASURES = ("calls", "unpriced", "input_tokens", "output_tokens", "cache_creation_5m_tokens",
            "cache_creation_1h_tokens", "cache_read_tokens", "tokens_saved", "web_search_requests",
            "web_fetch_requests", "cost_usd", "cost_input_usd", "cost_output_usd", "cost_cache_write_5m_usd",
            "cost_cache_write_1h_usd", "cost_cache_read_usd", "cost_server_tools_usd", "unsplit_cost_usd")
_KEY_TYPES = {"model": sa.String(100), "status": sa.String(16), "error_code": sa.String(64),
              "service_tier": sa.String(16), "inference_geo": sa.String(32), "prompt_band": sa.SmallInteger}
# (table, its time key, per user, that key from usage_daily's day)
TABLES = (("usage_daily_all", "day", False, "day"), ("usage_monthly", "month", True, "date_trunc('month', day)"))


def _fill_sql(table: str, bucket: str, with_user: bool, from_day: str) -> str:
    keys = ", ".join((*(["user_id"] if with_user else []), *KEYS))
    sums = ", ".join(f"CAST(sum({m}) AS BIGINT)" for m in MEASURES)
    return (f"INSERT INTO {table} ({bucket}, {keys}, {', '.join(MEASURES)}) "
            f"SELECT {from_day}, {keys}, {sums} FROM usage_daily GROUP BY {from_day}, {keys}")


def upgrade() -> None:
    from core.ledger import rollup

    conn = op.get_bind()
    for table, bucket, with_user, from_day in TABLES:
        if has_table(conn, table):
            continue
        cols = [sa.Column(bucket, sa.DateTime, primary_key=True)]
        cols += [sa.Column("user_id", sa.String(200), primary_key=True)] if with_user else []
        cols += [sa.Column(k, t, primary_key=True) for k, t in _KEY_TYPES.items()]
        op.create_table(table, *cols, *[sa.Column(m, sa.BigInteger, nullable=False) for m in MEASURES])
        if with_user:
            op.create_index(f"ix_{table}_user", table, ["user_id", bucket])
        rollup.locked(conn)  # PostgreSQL: no refresh meanwhile (DuckDB: the migrating process owns the file)
        rollup.tune(conn)  # room to hash the groups in memory
        conn.execute(sa.text(_fill_sql(table, bucket, with_user, from_day)))


def downgrade() -> None:
    for table, *_ in TABLES:
        op.drop_table(table, if_exists=True)
