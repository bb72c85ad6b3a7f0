"""Schema version 10: rollups for fast dashboards at scale.

``calls`` gains ``rolled`` (NOT NULL, false on new rows). The ledger's existing rows are folded into the rollups
here, in this step's transaction (PostgreSQL: the ALTER's lock keeps writers out until it commits), so they start
rolled: the column is added holding true for them, which PostgreSQL stores once instead of rewriting every row
(marking 10 M rows rolled afterwards, by ``UPDATE calls SET rolled``, took most of a 28-minute first refresh:
each updated row is a new row version in all eight indexes of ``calls``). Five rollup tables arrive:
``usage_hourly``, ``usage_hourly_all``, ``usage_daily``, ``latency_hourly`` and ``latency_daily``; their money
columns are BIGINT units of 1e-10 USD. On PostgreSQL three indexes on ``calls``: the rows still to roll (a
partial index, small), and cost (alone and per user) for the dearest calls. Self-contained and idempotent.
"""

import sqlalchemy as sa
from alembic import op

from core.ledger.ddl import add_filled_column, has_table, indexes

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ADDED = sa.Table("calls", sa.MetaData(), sa.Column("rolled", sa.Boolean, nullable=False, default=False))
COUNTS = ("calls", "unpriced", "input_tokens", "output_tokens", "cache_creation_5m_tokens",
          "cache_creation_1h_tokens", "cache_read_tokens", "tokens_saved", "web_search_requests",
          "web_fetch_requests")
MONEY = ("cost_usd", "cost_input_usd", "cost_output_usd", "cost_cache_write_5m_usd", "cost_cache_write_1h_usd",
         "cost_cache_read_usd", "cost_server_tools_usd", "unsplit_cost_usd")
TABLES = ("usage_hourly", "usage_hourly_all", "usage_daily", "latency_hourly", "latency_daily")
PG_INDEXES = {"ix_calls_unrolled": "CREATE INDEX ix_calls_unrolled ON calls (ts) WHERE NOT rolled",
              "ix_calls_cost": "CREATE INDEX ix_calls_cost ON calls (cost_usd)",
              "ix_calls_user_cost": "CREATE INDEX ix_calls_user_cost ON calls (user_id, cost_usd)"}


def _usage(name: str, bucket: str, with_user: bool) -> None:
    keys = [sa.Column(bucket, sa.DateTime, primary_key=True)]
    if with_user:
        keys.append(sa.Column("user_id", sa.String(200), primary_key=True))
    keys += [sa.Column("model", sa.String(100), primary_key=True),
             sa.Column("status", sa.String(16), primary_key=True),
             sa.Column("error_code", sa.String(64), primary_key=True),
             sa.Column("service_tier", sa.String(16), primary_key=True),
             sa.Column("inference_geo", sa.String(32), primary_key=True),
             sa.Column("prompt_band", sa.SmallInteger, primary_key=True)]
    op.create_table(name, *keys, *[sa.Column(n, sa.BigInteger, nullable=False) for n in (*COUNTS, *MONEY)])
    if with_user:
        op.create_index(f"ix_{name}_user", name, ["user_id", bucket])


def _fold_existing(conn) -> None:
    """Fold every row the ledger holds into this step's rollups, a week per statement."""
    from core.ledger import rollup

    rollup.tune(conn)
    lo, hi = conn.execute(sa.text("SELECT min(ts), max(ts) FROM calls")).one()
    while lo is not None and lo <= hi:
        rollup.fold(conn, "ts >= :lo AND ts < :hi", {"lo": lo, "hi": lo + rollup.CHUNK}, tables=TABLES)
        lo += rollup.CHUNK


def upgrade() -> None:
    conn = op.get_bind()
    filled = add_filled_column(conn, ADDED, "rolled", "TRUE")  # existing rows: rolled, by _fold_existing below
    for name, bucket, with_user in (("usage_hourly", "hour", True), ("usage_hourly_all", "hour", False),
                                    ("usage_daily", "day", True)):
        if not has_table(conn, name):
            _usage(name, bucket, with_user)
    for name, bucket in (("latency_hourly", "hour"), ("latency_daily", "day")):
        if has_table(conn, name):
            continue
        op.create_table(
            name,
            sa.Column(bucket, sa.DateTime, primary_key=True),
            sa.Column("model", sa.String(100), primary_key=True),
            sa.Column("metric", sa.SmallInteger, primary_key=True),
            sa.Column("bucket", sa.SmallInteger, primary_key=True),
            sa.Column("n", sa.BigInteger, nullable=False),
        )
    if conn.dialect.name == "postgresql":
        present = indexes(conn, "calls")
        for name, sql in PG_INDEXES.items():
            if name not in present:
                conn.execute(sa.text(sql))
    if filled:
        _fold_existing(conn)


def downgrade() -> None:
    for name in ("latency_daily", "latency_hourly", "usage_daily", "usage_hourly_all", "usage_hourly"):
        op.drop_table(name, if_exists=True)
    for name in PG_INDEXES:
        op.drop_index(name, table_name="calls", if_exists=True)
    op.drop_column("calls", "rolled")
