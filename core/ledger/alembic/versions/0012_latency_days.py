"""Schema version 12: latency per UTC day over every model, for the Usage & cost page's year at scale.

``latency_daily_all`` arrives: ``latency_daily`` summed over its models. A latency read per local day takes each
UTC day's histogram from it, corrected by the few hours that belong to a neighbouring local day (read from
``latency_hourly_all``), instead of summing 24 hourly histograms per day. It is filled from ``latency_daily``
itself (which holds exactly the rolled rows), under the rollup lock so that no refresh folds rows in between;
from then on every refresh folds into it too. Self-contained and idempotent.
"""

import sqlalchemy as sa
from alembic import op

from core.ledger.ddl import has_table

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

FILL = ("INSERT INTO latency_daily_all (day, metric, bucket, n) "
        "SELECT day, metric, bucket, sum(n) FROM latency_daily GROUP BY day, metric, bucket")


def upgrade() -> None:
    from core.ledger import rollup

    conn = op.get_bind()
    if not has_table(conn, "latency_daily_all"):
        op.create_table("latency_daily_all", sa.Column("day", sa.DateTime, primary_key=True),
                        sa.Column("metric", sa.SmallInteger, primary_key=True),
                        sa.Column("bucket", sa.SmallInteger, primary_key=True),
                        sa.Column("n", sa.BigInteger, nullable=False))
        rollup.locked(conn)  # PostgreSQL: no refresh meanwhile (DuckDB: the migrating process owns the file)
        conn.execute(sa.text(FILL))


def downgrade() -> None:
    op.drop_table("latency_daily_all", if_exists=True)
