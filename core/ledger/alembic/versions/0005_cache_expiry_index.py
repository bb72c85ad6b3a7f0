"""Schema version 5: an index on response_cache(expires_at).

The SQL cache deletes expired entries (``expires_at <= now``) after writes and the health page
counts live ones (``expires_at > now``); without an index both scan the whole table, which grows
with every cached request.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_response_cache_expires", "response_cache", ["expires_at"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_response_cache_expires", table_name="response_cache", if_exists=True)
