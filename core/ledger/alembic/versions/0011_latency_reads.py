"""Schema version 11: latency reads for the Usage & cost page at scale.

``latency_hourly_all`` arrives: ``latency_hourly`` summed over its models (a few times fewer rows), which a
latency read neither grouped nor filtered by model sums (the page's latency per local day). It is filled
from ``latency_hourly`` itself (which holds exactly the rolled rows), under the rollup lock so that no
refresh folds rows in between; from then on every refresh folds into it too.

And one user's latency (an analyst's page: the latency rollups have no user) is read from an index alone on
PostgreSQL. A rollup per user would not help: per user and hour, the histogram's rows (model, metric,
bucket) are about as many as the calls. So a covering partial index over the successful calls,
``ix_calls_user_latency (user_id, ts) INCLUDE (model, latency_ms, ttft_ms) WHERE status = 'ok'``, spares
one heap page per call. DuckDB scans its columns fast and gets no index. Self-contained and idempotent.
"""

import sqlalchemy as sa
from alembic import op

from core.ledger.ddl import has_table, indexes

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEX = "ix_calls_user_latency"
INDEX_SQL = f"CREATE INDEX {INDEX} ON calls (user_id, ts) INCLUDE (model, latency_ms, ttft_ms) WHERE status = 'ok'"
FILL = ("INSERT INTO latency_hourly_all (hour, metric, bucket, n) "
        "SELECT hour, metric, bucket, sum(n) FROM latency_hourly GROUP BY hour, metric, bucket")


def upgrade() -> None:
    from core.ledger import rollup

    conn = op.get_bind()
    if not has_table(conn, "latency_hourly_all"):
        op.create_table("latency_hourly_all", sa.Column("hour", sa.DateTime, primary_key=True),
                        sa.Column("metric", sa.SmallInteger, primary_key=True),
                        sa.Column("bucket", sa.SmallInteger, primary_key=True),
                        sa.Column("n", sa.BigInteger, nullable=False))
        rollup.locked(conn)  # PostgreSQL: no refresh meanwhile (DuckDB: the migrating process owns the file)
        conn.execute(sa.text(FILL))
    if conn.dialect.name == "postgresql" and INDEX not in indexes(conn, "calls"):
        conn.execute(sa.text(INDEX_SQL))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="calls", if_exists=True)
    op.drop_table("latency_hourly_all", if_exists=True)
