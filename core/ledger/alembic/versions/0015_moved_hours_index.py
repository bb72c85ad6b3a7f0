"""Schema version 15: the hours a local day moves across, read from an index alone (PostgreSQL).

Latency per local day outside UTC (the Usage & cost page) takes each whole UTC day's histogram from
``latency_daily_all`` and moves the few hours that belong to the neighbouring local day across, reading those hours
(4 or 5 a day in New York: 1,825 over a year) from ``latency_hourly_all``. Through its primary key each row cost a
heap page: ``ix_latency_hourly_all_cover (hour) INCLUDE (metric, bucket, n)`` gives them from the index alone.
DuckDB keeps its hourly read and gets no index. Self-contained and idempotent.
"""

import sqlalchemy as sa
from alembic import op

from core.ledger.ddl import indexes

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEX = "ix_latency_hourly_all_cover"
INDEX_SQL = f"CREATE INDEX {INDEX} ON latency_hourly_all (hour) INCLUDE (metric, bucket, n)"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql" and INDEX not in indexes(conn, "latency_hourly_all"):
        conn.execute(sa.text(INDEX_SQL))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="latency_hourly_all", if_exists=True)
