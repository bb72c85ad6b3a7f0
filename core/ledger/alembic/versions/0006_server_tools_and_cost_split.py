"""Schema version 6: server-tool counts, service tier, inference geo and the cost split by part on ``calls``.

``web_search_requests`` / ``web_fetch_requests`` (NOT NULL, 0 on existing rows), ``service_tier`` and
``inference_geo`` (as usage reported them, NULL before), and ``cost_<part>_usd`` for input, output,
5-minute and 1-hour cache writes, cache reads and server tools (NULL on rows recorded before: the
usage report shows their cost as not split). Rows are kept; DuckDB's indexes on ``calls`` are dropped
and rebuilt around the ALTERs, which it refuses on an indexed table.
"""

from alembic import op

from core.ledger.ddl import add_missing_columns
from core.ledger.schema import COLUMNS_ADDED_IN, calls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = tuple(name for name, version in COLUMNS_ADDED_IN[calls.name].items() if version == 6)


def upgrade() -> None:
    add_missing_columns(op.get_bind(), calls, only=COLUMNS)


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("calls", name)
